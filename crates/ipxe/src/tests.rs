use super::*;

fn server() -> BootServer {
    BootServer { address: IpAddr::from([10, 0, 0, 1]), port: 4080 }
}

fn machine() -> Machine {
    Machine {
        mac: Some("52:54:00:12:34:56".to_owned()),
        ip: Some(IpAddr::from([10, 0, 0, 50])),
        hostname: Some("node-7".to_owned()),
    }
}

fn initrds() -> Vec<String> {
    vec!["debian/initrd.gz".to_owned(), "extra/my firmware.cpio".to_owned()]
}

#[test]
fn a_kernel_profile_becomes_kernel_initrds_and_boot() {
    let initrds = initrds();
    let profile = Profile {
        name: "debian",
        kernel: Some("debian/vmlinuz"),
        initrds: &initrds,
        cmdline: "console=ttyS0 ip={{ ip }} hostname={{ hostname }}",
        script: None,
    };
    let script = render(&profile, &machine(), &server()).unwrap();
    assert_eq!(
        script,
        "#!ipxe\n\
         echo lifeboat: 52:54:00:12:34:56 boots profile debian\n\
         kernel http://10.0.0.1:4080/debian/vmlinuz console=ttyS0 ip=10.0.0.50 hostname=node-7 initrd=initrd0 initrd=initrd1\n\
         initrd --name initrd0 http://10.0.0.1:4080/debian/initrd.gz\n\
         initrd --name initrd1 http://10.0.0.1:4080/extra/my%20firmware.cpio\n\
         boot\n"
    );
}

#[test]
fn a_command_line_that_names_its_initrds_keeps_them() {
    let initrds = initrds();
    let profile = Profile {
        name: "debian",
        kernel: Some("debian/vmlinuz"),
        initrds: &initrds,
        cmdline: "initrd=\\boot\\initrd.gz quiet",
        script: None,
    };
    let script = render(&profile, &machine(), &server()).unwrap();
    assert!(script.contains("/debian/vmlinuz initrd=\\boot\\initrd.gz quiet\n"), "{script}");
    assert!(script.contains("initrd --name initrd1 http://10.0.0.1:4080/extra/my%20firmware.cpio\n"), "{script}");
}

#[test]
fn a_kernel_without_initrds_gets_no_initrd_words() {
    let profile = Profile { name: "p", kernel: Some("k"), initrds: &[], cmdline: "quiet", script: None };
    let script = render(&profile, &machine(), &server()).unwrap();
    assert_eq!(
        script,
        "#!ipxe\necho lifeboat: 52:54:00:12:34:56 boots profile p\nkernel http://10.0.0.1:4080/k quiet\nboot\n"
    );
}

#[test]
fn a_script_template_sees_every_variable() {
    let initrds = initrds();
    let template = "#!ipxe\n\
                    echo {{ mac }} {{ ip }} {{ hostname }} {{ server }} {{ port }} {{ base_url }} {{ profile }}\n\
                    kernel {{ kernel_url }} {{ cmdline }}\n\
                    {% for url in initrd_urls %}initrd {{ url }}\n{% endfor %}boot";
    let profile =
        Profile { name: "lab", kernel: Some("k"), initrds: &initrds, cmdline: "root=/dev/nfs", script: Some(template) };
    let script = render(&profile, &machine(), &server()).unwrap();
    assert_eq!(
        script,
        "#!ipxe\n\
         echo 52:54:00:12:34:56 10.0.0.50 node-7 10.0.0.1 4080 http://10.0.0.1:4080 lab\n\
         kernel http://10.0.0.1:4080/k root=/dev/nfs\n\
         initrd http://10.0.0.1:4080/debian/initrd.gz\n\
         initrd http://10.0.0.1:4080/extra/my%20firmware.cpio\n\
         boot\n"
    );
}

#[test]
fn an_unknown_machine_renders_with_empty_variables() {
    let profile = Profile {
        name: "p",
        kernel: None,
        initrds: &[],
        cmdline: "",
        script: Some("[{{ mac }}|{{ ip }}|{{ hostname }}]"),
    };
    assert_eq!(render(&profile, &Machine::default(), &server()).unwrap(), "[||]\n");
}

#[test]
fn a_template_error_says_its_part_and_line() {
    let profile = Profile {
        name: "p",
        kernel: None,
        initrds: &[],
        cmdline: "",
        script: Some("#!ipxe\necho fine\necho {{ mac }\nboot\n"),
    };
    let error = check(&profile).unwrap_err();
    assert_eq!((error.part, error.line), (Part::Script, Some(3)), "{error}");
    assert!(error.to_string().starts_with("script line 3: syntax error"), "{error}");

    let typo = Profile { name: "p", kernel: Some("k"), initrds: &[], cmdline: "ip={{ addr }}", script: None };
    let error = check(&typo).unwrap_err();
    assert_eq!((error.part, error.line), (Part::Cmdline, Some(1)), "{error}");
    assert!(error.message.contains("undefined"), "{error}");
}

#[test]
fn a_profile_without_kernel_or_script_is_refused() {
    let empty = Profile { name: "p", kernel: None, initrds: &[], cmdline: "", script: None };
    assert_eq!(check(&empty).unwrap_err().part, Part::Profile);
}

#[test]
fn a_template_that_never_ends_runs_out_of_fuel() {
    let forever = "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}";
    let profile = Profile { name: "p", kernel: None, initrds: &[], cmdline: "", script: Some(forever) };
    let error = check(&profile).unwrap_err();
    assert!(error.message.contains("fuel"), "{error}");
}

#[test]
fn what_a_machine_says_about_itself_cannot_add_commands() {
    let hostile = Machine {
        hostname: Some("evil\nshell\n${net0/mac} chain http://x/".to_owned()),
        mac: Some("52:54:00:12:34:56\nshell".to_owned()),
        ..machine()
    };
    let profile =
        Profile { name: "p", kernel: Some("k"), initrds: &[], cmdline: "hostname={{ hostname }}\nquiet", script: None };
    let script = render(&profile, &hostile, &server()).unwrap();
    assert_eq!(script.lines().count(), 4, "{script}");
    assert!(!script.contains("${"), "{script}");
    assert!(script.contains("hostname=evilshellnet0macchainhttpx quiet"), "{script}");
}

#[test]
fn the_menu_chains_each_profile_and_can_be_left() {
    let script = menu(&["debian", "memtest"], &machine(), &server());
    assert!(script.starts_with("#!ipxe\n"), "{script}");
    assert!(script.contains("item p0 debian\nitem p1 memtest\n"), "{script}");
    assert!(
        script.contains(":p1\nchain http://10.0.0.1:4080/ipxe?profile=memtest&mac=52:54:00:12:34:56\n"),
        "{script}"
    );
    assert!(script.ends_with(":exit\nexit 1\n"), "{script}");
}

#[test]
fn nothing_to_boot_says_why_and_exits() {
    let script = nothing_to_boot(&machine(), "no profile\nat all");
    assert_eq!(script, "#!ipxe\necho lifeboat: nothing to boot for 52:54:00:12:34:56: no profile at all\nexit 1\n");
}

#[test]
fn urls_of_ipv6_servers_have_brackets() {
    let v6 = BootServer { address: "fd00::1".parse().unwrap(), port: 80 };
    assert_eq!(v6.url_of("/a b/c#d"), "http://[fd00::1]:80/a%20b/c%23d");
}
