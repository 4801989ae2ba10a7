use super::*;

fn parse_err(text: &str) -> String {
    format!("{:#}", parse(Path::new("labs/x.toml"), text).unwrap_err())
}

const SEED: &str = r#"
name = "seed000"
[networks.br0]
subnet = "172.16.0.0/24"
gateway = "172.16.0.1"
bridge = "br0"
[sandboxes.netns1]
networks = { br0 = "172.16.0.2" }
[sandboxes.netns2]
networks = { br0 = "172.16.0.3" }
env = ["A=1"]
[sandboxes.netns1.impair.eth0]
delay = "20ms"
[[expect]]
from = "netns1"
to = "netns2"
"#;

#[test]
fn the_spec_example_reads_in_file_order() {
    let lab = parse(Path::new("examples/seed000.toml"), SEED).unwrap();
    assert_eq!(lab.name, "seed000");
    assert_eq!(lab.dir, Path::new("examples"));
    let names: Vec<&String> = lab.sandboxes.keys().collect();
    assert_eq!(names, ["netns1", "netns2"]);
    assert_eq!(lab.networks["br0"].subnet.as_deref(), Some("172.16.0.0/24"));
    assert_eq!(lab.sandboxes["netns1"].networks["br0"], "172.16.0.2");
    assert_eq!(
        lab.sandboxes["netns1"].impair["eth0"].delay.as_deref(),
        Some("20ms")
    );
    assert_eq!(lab.sandboxes["netns2"].env.entries(), ["A=1"]);
    assert!(lab.expect[0].reach, "reach defaults to true");
}

#[test]
fn network_order_is_the_files_not_the_alphabets() {
    let lab = parse(
        Path::new("l.toml"),
        "[sandboxes.r]\nnetworks = { zeta = \"\", alpha = \"\" }\n",
    )
    .unwrap();
    assert_eq!(lab.name, "l", "default name: the file stem");
    let nets: Vec<&String> = lab.sandboxes["r"].networks.keys().collect();
    assert_eq!(nets, ["zeta", "alpha"]);
}

#[test]
fn unknown_keys_name_the_file_the_line_and_the_key() {
    let e = parse_err("[sandboxes.a]\ncommand = [\"true\"]\ncolour = \"red\"\n");
    assert!(
        e.starts_with("lab file labs/x.toml, line 3 (colour = \"red\")"),
        "{e}"
    );
    assert!(e.contains("unknown field `colour`"), "{e}");
    assert!(!e.contains('\n'), "one line: {e}");
    let e = parse_err("[networks.n]\nsubnett = \"10.1.0.0/24\"\n[sandboxes.a]\n");
    assert!(e.contains("line 2") && e.contains("`subnett`"), "{e}");
    let e = parse_err("[sandboxes.a.impair.eth0]\nlatency = \"1ms\"\n");
    assert!(e.contains("`latency`"), "{e}");
    let e = parse_err("nmae = \"x\"\n[sandboxes.a]\n");
    assert!(e.contains("line 1") && e.contains("`nmae`"), "{e}");
}

#[test]
fn whole_file_mistakes_are_refused_with_the_remedy() {
    for (text, says) in [
        (
            "[networks.n]\nsubnet6 = \"fd42::1/64\"\n[sandboxes.a]\n",
            "has host bits set",
        ),
        (
            "[networks.n]\ngateway6 = \"fd42::1\"\n[sandboxes.a]\n",
            "gateway6 needs subnet6",
        ),
        (
            "[networks.n]\nsubnet6 = \"fd42::/64\"\ngateway6 = \"x\"\n[sandboxes.a]\n",
            "gateway6 \"x\" is not an IPv6 address",
        ),
        (
            "[networks.n]\nsubnet = \"10.1.0.0/24\"\n[sandboxes.a]\nnetworks = { n = \"fd42::5\" }\n",
            "network n has no subnet6",
        ),
        (
            "[networks.n]\nsubnet6 = \"fd42::/64\"\n[sandboxes.a]\nnetworks = { n = \"fd43::5\" }\n",
            "outside network n's IPv6 subnet fd42::/64",
        ),
        (
            "[networks.n]\nsubnet6 = \"fd42::/64\"\n[sandboxes.a]\nnetworks = { n = \"fd42::1\" }\n",
            "IPv6 gateway",
        ),
        (
            "[sandboxes.a]\nnetworks = { n = \"fd42::5,fd42::6\" }\n",
            "two addresses of one kind",
        ),
        (
            "[networks.n]\nsubnet = \"10.1.0.0/24\"\n",
            "needs at least one sandbox",
        ),
        (
            "[networks.n]\nsubnet = \"10.1.0.0/24\"\n[sandboxes.a]\nnetworks = { n = \"10.2.0.5\" }\n",
            "10.2.0.5 is not a host address of network n (10.1.0.0/24)",
        ),
        (
            "[networks.n]\nsubnet = \"10.1.0.0/24\"\n[sandboxes.a]\nnetworks = { n = \"10.1.0.1\" }\n",
            "is network n's gateway",
        ),
        (
            "[sandboxes.a]\nnetworks = { n = \"10.1.0\" }\n",
            "is not an IPv4 address",
        ),
        (
            "[sandboxes.a.impair.eth1]\ndelay = \"1ms\"\n",
            "it has eth0..eth0",
        ),
        (
            "[sandboxes.a.impair.eth0]\ndelay = \"1\"\n",
            "impair.eth0: --delay \"1\": give a unit",
        ),
        (
            "[sandboxes.a]\n[[expect]]\nfrom = \"a\"\nto = \"b\"\n",
            "b is not a sandbox of the lab",
        ),
        ("name = \"a b\"\n[sandboxes.a]\n", "is not valid"),
        ("[sandboxes.\"a/b\"]\n", "name \"a/b\" is not valid"),
        (
            "[networks.n]\nmtu = 20\n[sandboxes.a]\n",
            "mtu must be between",
        ),
    ] {
        let e = parse_err(text);
        assert!(e.contains(says), "{text:?}: {e}");
        assert!(e.starts_with("lab file labs/x.toml"), "{e}");
    }
}

#[test]
fn expectations_may_name_the_host_and_a_lab_gateway() {
    let text = "[networks.n]\n[sandboxes.a]\n[[expect]]\nfrom = \"host\"\nto = \"gateway:n\"\nreach = false\n";
    let lab = parse(Path::new("x.toml"), text).unwrap();
    assert!(!lab.expect[0].reach);
}
