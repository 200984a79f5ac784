//! Differential test: Correlator's built-in base patterns against the reference definitions of CrowdSec's grok
//! library (`hubtests/patterns-base/grokky-base`).
//!
//! For every base name, both libraries compile `%{NAME:whole}` (unanchored, as parsers use it) and
//! `^%{NAME:whole}$` (the language), and must give the same result (no match, or the same value for every
//! semantic) on: the hand-written samples below (positive and negative), every other pattern's samples, and
//! deterministic random mutations of all samples.

mod common;

use correlator::grok::{CompiledGrok, PatternLibrary};

/// Hand-written samples per pattern: strings that should match, plus near misses.
const SAMPLES: &[(&str, &[&str])] = &[
    ("USERNAME", &["root", "jean.dupont-2_x", "", "é", "a b"]),
    ("USER", &["admin", "-", "user@host"]),
    ("EMAILLOCALPART", &["john.doe+tag", "a,b;c<d=e:f/g", "x>y"]),
    ("HOSTNAME", &["example.com", "example.com.", "a-b.c", "-bad", "x.", "a..b", "localhost", "1.2.3.4"]),
    ("EMAILADDRESS", &["john@example.com", "a=b@c.d.", "@x", "x@"]),
    ("HTTPDUSER", &["john@example.com", "frank", "-", "a@"]),
    ("INT", &["0", "-12", "+7", "12a", "-", "1.5"]),
    ("BASE10NUM", &["1", "1.5", ".5", "-0.25", "1.", "+.", "1.2.3"]),
    ("NUMBER", &["42", "3.14", "-1", "abc"]),
    ("BASE16NUM", &["0x1f", "ff", "-0xAB", "0x", "g1"]),
    ("BASE16FLOAT", &["0x1.8", "ff.", ".a", "1.2.3", "x1"]),
    ("POSINT", &["1", "10", "0", "01", "a1", "1a", "12 34"]),
    ("NONNEGINT", &["0", "007", "-1", "12a"]),
    ("WORD", &["hello", "hello_world1", "  hi  ", "été", "!!"]),
    ("NOTSPACE", &["abc", "a b", " ", "\tx"]),
    ("SPACE", &["", "  ", "\t \t", "x"]),
    ("DATA", &["anything", ""]),
    ("GREEDYDATA", &["anything at all", "", "multi\nline"]),
    (
        "QUOTEDSTRING",
        &[
            r#""hello""#,
            r#""""#,
            r#""esc\"aped""#,
            r#"'single'"#,
            "''",
            "`back`",
            "``",
            r#""unterminated"#,
            r#"x "a" "b" y"#,
            r#""a\"#,
            "\"a\\\nb\"",
            r#""mixed'"#,
        ],
    ),
    (
        "UUID",
        &[
            "123e4567-e89b-12d3-a456-426614174000",
            "123e4567-e89b-12d3-a456-42661417400",
            "g23e4567-e89b-12d3-a456-426614174000",
        ],
    ),
    ("CISCOMAC", &["0123.4567.89ab", "0123.4567.89a"]),
    ("WINDOWSMAC", &["01-23-45-67-89-ab", "01-23-45-67-89"]),
    ("COMMONMAC", &["01:23:45:67:89:ab", "01:23:45:67:89:zz"]),
    ("MAC", &["0123.4567.89ab", "01-23-45-67-89-ab", "01:23:45:67:89:ab", "0123"]),
    (
        "IPV6",
        &[
            "::1",
            "::",
            "fe80::1",
            "2001:db8::8a2e:370:7334",
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            "1:2:3:4:5:6:7::",
            "1::",
            "1:2::3:4",
            "::ffff:192.168.1.1",
            "1:2:3:4:5:6:1.2.3.4",
            "1::1.2.3.4",
            "::1.2.3.4",
            "1:2:3::1.2.3.4",
            "fe80::1%eth0",
            "fe80::1%eth0 trailing text",
            "1:2:3:4:5:6:7:8:9",
            "12345::1",
            "1:2",
            "::ffff:256.1.1.1",
            "2001:db8:0:0:0:0:2:1",
            "a:b:c:d:e:f:a:b",
            "1:2:3:4:5::6",
            "1:2:3:4::5:6",
            "1::2:3:4:5:6:7",
        ],
    ),
    (
        "IPV4",
        &[
            "1.2.3.4",
            "255.255.255.255",
            "192.168.001.010",
            "256.1.1.1",
            "1.2.3.256",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.299",
        ],
    ),
    ("IP", &["10.0.0.1", "::1", "1.2.3.4 and ::1", "2001:db8::1", "192.168.1.255"]),
    ("IPORHOST", &["10.0.0.1", "example.org", "::1", "-"]),
    ("HOSTPORT", &["example.org:80", "10.0.0.1:443", "[::1]:22", "host:0", "host:"]),
    ("UNIXPATH", &["/var/log/syslog", "/", "/a b/c", "/x\\ y", "relative/path", "/%20/@:.,~-"]),
    ("TTY", &["/dev/pts/0", "/dev/tty1", "/dev/ttyp0", "/dev/ttyS0", "/dev/tty", "/dev/pts/"]),
    ("WINPATH", &["C:\\Windows\\System32", "\\\\server\\share", "C:", "C:\\a*b"]),
    ("PATH", &["/usr/bin", "C:\\x", "nope"]),
    ("URIPROTO", &["http", "svn+ssh", "h2c+x+y", "1http"]),
    ("URIHOST", &["example.org:8080", "10.0.0.1", "host:", "::1"]),
    ("URIPATH", &["/index.html", "/a/b/c?x", "/path%20x/{a}/(b)", "//", "noslash"]),
    ("URIPARAM", &["?a=1&b=2", "?", "?x[]=<y>|z", "a=1"]),
    ("URIPATHPARAM", &["/search?q=shoes", "/a", "?x"]),
    (
        "URI",
        &[
            "http://example.org/",
            "https://user:pw@example.org:8443/p?q=1",
            "ftp://10.0.0.1",
            "file:///etc/passwd",
            "http://",
            "mailto:x",
        ],
    ),
    (
        "MONTH",
        &[
            "Jan",
            "January",
            "Januar",
            "Feb",
            "Mar",
            "März",
            "Mrz",
            "Mr",
            "May",
            "Mai",
            "Ma",
            "Oct",
            "Okt",
            "Ot",
            "Dez",
            "December",
            "Decembers",
            "XJan",
            "Sept",
            "jan",
        ],
    ),
    ("MONTHNUM", &["1", "01", "12", "13", "00", "0"]),
    ("MONTHNUM2", &["01", "1", "12", "13"]),
    ("MONTHDAY", &["1", "01", "09", "10", "29", "31", "32", "00", "0"]),
    ("DAY", &["Mon", "Monday", "Tue", "Thursday", "Sunday", "Sund", "mon"]),
    ("YEAR", &["2026", "26", "202", "1", "20266"]),
    ("HOUR", &["0", "00", "09", "19", "23", "24", "9"]),
    ("MINUTE", &["00", "59", "60", "5"]),
    ("SECOND", &["00", "59", "60", "61", "5", "05.123", "05,1", "05:12", "5."]),
    ("TIME", &["14:10:21", "4:05:06", "24:00:00", "23:59:60.5", "1:2:3"]),
    ("DATE_US", &["12/31/2026", "1-2-26", "13/01/2026", "01/32/2026"]),
    ("DATE_EU", &["31.12.2026", "1/2/26", "31-12-2026", "32.12.2026"]),
    ("DATE_X", &["2026/12/31", "26/01/01", "2026/1/31"]),
    ("ISO8601_TIMEZONE", &["Z", "+02:00", "-0700", "+2:00", "+24:00", "+02"]),
    ("ISO8601_SECOND", &["60", "59.9", "61"]),
    (
        "TIMESTAMP_ISO8601",
        &[
            "2026-02-12T14:10:21Z",
            "2026-02-12 14:10:21.123+02:00",
            "2026-02-12T14:10",
            "2026-2-1T1:10:21",
            "20-02-12T14:10:21",
            "2026-13-12T14:10:21Z",
            "2026-02-12T1410",
        ],
    ),
    ("DATE", &["12/31/2026", "31.12.2026", "2026/12/31", "2026-12-31"]),
    ("DATESTAMP", &["12/31/2026 14:10:21", "31.12.2026-14:10:21", "2026/12/31 1:2:3"]),
    ("TZ", &["UTC", "CEST", "utc", "AB"]),
    ("NUMTZ", &["+0200", "-0700", "+02:00", "0200"]),
    ("DATESTAMP_RFC822", &["Mon Jan 2 2006 15:04:05 MST", "Mon Jan 02 06 15:04:05 UTC", "Mon Jan 2 2006 15:04:05"]),
    ("DATESTAMP_RFC2822", &["Mon, 2 Jan 2006 15:04:05 +0700", "Mon, 02 Jan 2006 15:04:05 Z", "Mon 2 Jan 2006"]),
    ("DATESTAMP_OTHER", &["Mon Jan 2 15:04:05 MST 2006", "Tue Feb 12 14:10:21 CET 2026"]),
    ("DATESTAMP_EVENTLOG", &["20260212141021", "2026021214102", "202602121410211"]),
    ("HTTPDERROR_DATE", &["Mon Jan 02 15:04:05 2006", "Wed Oct 11 14:32:52.123456 2000", "Mon Jan 02 15:04 2006"]),
    ("ANSIC", &["Mon Jan 02 15:04:05 2006\"", "Mon Jan _2 15:04:05 2006\"", "Mon Jan 02 15:04:05 2006"]),
    ("UNIXDATE", &["Mon Jan 12 15:04:05 MST 2006", "Mon Jan 02 15:04:05 MST 2006", "Mon Jan 42 15:04:05 MST 2006"]),
    ("RUBYDATE", &["Mon Jan 02 15:04:05 -0700 2006", "Mon Jan 2 15:04:05 -0700 2006"]),
    ("RFC822Z", &["02 Jan 06 15:04 -0700", "02 Jan 06 15:04:05 -0700", "42 Jan 06 15:04:05 -0700"]),
    ("RFC850", &["Monday, 02-Jan-06 15:04:05 MST", "Monday, 2-Jan-06 15:04:05 MST"]),
    ("RFC1123", &["Mon, 02 Jan 2006 15:04:05 MST", "Mon, 02 Jan 2006 15:04:05 +0000"]),
    ("RFC1123Z", &["Mon, 02 Jan 2006 15:04:05 -0700", "Mon, 02 Jan 2006 15:04:05 MST"]),
    ("RFC3339", &["2006-01-02T15:04:05Z", "2006-01-02T15:04:05+07:00", "2006-01-02 15:04:05Z", "2006-21-02T15:04:05Z"]),
    (
        "RFC3339NANO",
        &["2006-01-02T15:04:05.999999999Z", "2006-01-02T15:04:05.99999999Z", "2006-01-02T15:04:05.123456789-07:00"],
    ),
    ("KITCHEN", &["3:04PM", "03:04pm", "3:04 PM", "123:04AM", "3:4PM"]),
    (
        "SYSLOGTIMESTAMP",
        &["Feb 12 14:10:21", "Mar  2 00:00:00", "Mar 2 00:00:00.123", "Feb 12 14:10", "Xyz 12 14:10:21"],
    ),
    ("PROG", &["sshd", "systemd-logind", "CRON", "a[1]", "foo/bar", "\x7f"]),
    ("SYSLOGPROG", &["sshd[1234]", "sshd", "sshd[0]", "sshd[abc]", "kernel:"]),
    ("SYSLOGHOST", &["srv-web-01", "10.0.0.1", "::1"]),
    ("SYSLOGFACILITY", &["<13.5>", "<13x5>", "<13>", "<a.b>"]),
    (
        "HTTPDATE",
        &[
            "02/Mar/2026:00:00:05 +0000",
            "2/Mar/2026:00:00:05 -0700",
            "02/Mar/2026:00:00:05",
            "02/03/2026:00:00:05 +0000",
        ],
    ),
    ("QS", &[r#""GET / HTTP/1.1""#, "'x'", "\"\""]),
    (
        "LOGLEVEL",
        &[
            "alert",
            "Alert",
            "ALERT",
            "warn",
            "Warning",
            "WARN",
            "WARNING",
            "war",
            "err",
            "Error",
            "ERR",
            "crit",
            "Critical",
            "CRITICAL",
            "emerg",
            "EMERGENCY",
            "Emergency",
            "fatal",
            "severe",
            "info",
            "notice",
            "debug",
            "trace",
            "TRACE",
            "verbose",
        ],
    ),
    (
        "SYSLOGBASE",
        &[
            "Feb 12 14:10:21 host sshd[42]:",
            "Mar  2 00:00:00 srv-web-01 sshd[2601995]: Accepted publickey",
            "Feb 12 14:10:21 <13.5> 10.0.0.1 kernel:",
            "Feb 12 14:10:21 host sshd[42]",
            "Feb 12 14:10:21 host :",
        ],
    ),
    (
        "COMMONAPACHELOG",
        &[
            r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#,
            r#"::1 - - [10/Oct/2000:13:55:36 -0700] "-" 400 -"#,
            r#"host.example.com user@x.org - [10/Oct/2000:13:55:36 +0000] "\x16\x03\x01" 400 0"#,
            r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a b c" 200 12.5"#,
            r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /" 200 1"#,
            r#"1.2.3.4 - - [10/Oct/2000:13:55:36] "GET /" 200 1"#,
        ],
    ),
    (
        "COMBINEDAPACHELOG",
        &[
            r#"178.63.217.136 - - [02/Mar/2026:00:00:05 +0000] "GET /search?q=shoes HTTP/1.1" 200 4953 "-" "Mozilla/5.0 (Windows NT 10.0; Win64; x64)""#,
            r#"1.2.3.4 - - [02/Mar/2026:00:00:05 +0000] "GET / HTTP/1.1" 200 1 "" """#,
            r#"1.2.3.4 - - [02/Mar/2026:00:00:05 +0000] "GET / HTTP/1.1" 200 1 "ref" "agent \"quoted\" end""#,
            r#"1.2.3.4 - - [02/Mar/2026:00:00:05 +0000] "GET / HTTP/1.1" 200 1 "ref" "unterminated"#,
        ],
    ),
    (
        "HTTPD20_ERRORLOG",
        &[
            "[Mon Jan 02 15:04:05 2006] [error] [client 1.2.3.4] File does not exist: /var/www/x",
            "[Mon Jan 02 15:04:05 2006] [notice] Apache configured",
        ],
    ),
    (
        "HTTPD24_ERRORLOG",
        &[
            "[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708:tid 4328636416] [client 72.15.99.187:1234] AH00037: Symbolic link not allowed",
            "[Wed Oct 11 14:32:52 2000] [proxy:error] [pid 1] (111)Connection refused: AH00957: HTTP: attempt to connect failed",
            "[Wed Oct 11 14:32:52 2000] [mpm_event:notice] [pid 1:tid 2] AH00489: Apache/2.4 configured",
        ],
    ),
    (
        "HTTPD_ERRORLOG",
        &[
            "[Mon Jan 02 15:04:05 2006] [error] [client 1.2.3.4] File does not exist: /x",
            "[Wed Oct 11 14:32:52 2000] [core:error] [pid 35708] [client 1.2.3.4:5] AH00037: x",
        ],
    ),
];

/// Characters mutations draw from: the separators and classes the patterns care about.
const ALPHABET: &[char] = &[
    '0', '1', '2', '5', '9', 'a', 'f', 'F', 'x', 'Z', 'T', 'M', ' ', ' ', ':', '.', ',', '/', '\\', '-', '_', '+', '%',
    '@', '[', ']', '<', '>', '"', '\'', '`', '?', '=', '&', '\t', 'é', 'ä',
];

fn result(g: &CompiledGrok, input: &str) -> Option<Vec<(String, String)>> {
    let c = g.captures(input)?;
    let mut v: Vec<(String, String)> = c.iter().map(|(k, v)| (k.to_string(), v.into_owned())).collect();
    v.sort();
    Some(v)
}

fn mutate(rng: &mut common::Rng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    for _ in 0..=rng.below(3) {
        let pos = rng.below(chars.len() + 1);
        match rng.below(4) {
            0 if pos < chars.len() => {
                chars.remove(pos);
            }
            1 if pos < chars.len() => chars[pos] = ALPHABET[rng.below(ALPHABET.len())],
            2 if pos < chars.len() => {
                let c = chars[pos];
                chars.insert(pos, c);
            }
            _ => chars.insert(pos, ALPHABET[rng.below(ALPHABET.len())]),
        }
    }
    chars.into_iter().collect()
}

#[test]
fn builtins_match_the_reference_definitions() {
    let shared = common::shared_dir();
    let mut reference = PatternLibrary::empty();
    let n = reference.load_file(&shared.join("hubtests/patterns-base/grokky-base")).expect("reference base loads");
    assert_eq!(n, 88);
    let ours = PatternLibrary::new();
    assert_eq!(ours.names(), reference.names(), "same names as the reference");
    let sampled: Vec<&str> = SAMPLES.iter().map(|(n, _)| *n).collect();
    for name in ours.names() {
        assert!(sampled.contains(&name), "no samples for {name}");
    }

    let mut pool: Vec<String> = SAMPLES.iter().flat_map(|(_, s)| s.iter().map(|x| x.to_string())).collect();
    let mut rng = common::Rng::new(0x5eed);
    let base = pool.clone();
    for s in &base {
        for _ in 0..12 {
            pool.push(mutate(&mut rng, s));
        }
        // Embedded in text, so unanchored search and word boundaries are exercised.
        pool.push(format!("prefix {s} suffix"));
        pool.push(format!("x{s}y"));
    }

    let mut compared = 0usize;
    let mut positives = 0usize;
    for name in ours.names() {
        for pattern in [format!("%{{{name}:whole}}"), format!("^%{{{name}:whole}}$")] {
            let a = ours.compile(&pattern).unwrap_or_else(|e| panic!("ours {pattern}: {e}"));
            let b = reference.compile(&pattern).unwrap_or_else(|e| panic!("reference {pattern}: {e}"));
            let mut sa: Vec<String> = a.semantics().map(|s| s.to_string()).collect();
            let mut sb: Vec<String> = b.semantics().map(|s| s.to_string()).collect();
            sa.sort();
            sb.sort();
            assert_eq!(sa, sb, "semantics of {name}");
            for input in &pool {
                let (ra, rb) = (result(&a, input), result(&b, input));
                assert_eq!(ra, rb, "{pattern} on {input:?}");
                compared += 1;
                positives += usize::from(ra.is_some());
            }
        }
    }
    // Every pattern's own positive samples must really be positive somewhere (the comparison is not vacuous).
    for (name, samples) in SAMPLES {
        let g = ours.compile(&format!("^%{{{name}:whole}}$")).unwrap();
        assert!(samples.iter().any(|s| g.captures(s).is_some()), "no full match among the samples of {name}");
    }
    eprintln!("compared {compared} (pattern, input) pairs, {positives} matches");
    assert!(positives > 10_000, "{positives}");
}
