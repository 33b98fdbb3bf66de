from harness.contract.redact import REDACTED, is_secret_header, redact_scenario
from harness.scenario import parse_scenario_text, resolve

TEXT = """\
name: r
target:
  api_key: {value: sekrit-1, header: X-Mother-Box}
  headers: {X-Mother-Box: sekrit-1, Authorization: Bearer sekrit-1, X-Env: perf}
load: {rate: 1, duration: 1s}
mix:
  - {name: a, path: /a, headers: {Cookie: s=sekrit-1, Accept: text/plain}}
"""


def test_secrets_of_a_scenario_dump_are_redacted_and_the_rest_kept():
    dump = resolve(parse_scenario_text(TEXT)).dump()
    redacted = redact_scenario(dump)
    assert "sekrit-1" not in str(redacted)
    assert redacted["target"]["api_key"] == {
        "env": None,
        "file": None,
        "value": REDACTED,
        "header": "X-Mother-Box",
    }
    assert redacted["target"]["headers"] == {
        "X-Mother-Box": REDACTED,
        "Authorization": REDACTED,
        "X-Env": "perf",
    }
    assert redacted["mix"][0]["headers"] == {"Cookie": REDACTED, "Accept": "text/plain"}
    assert "sekrit-1" in str(dump)  # a copy: the scenario itself is untouched


def test_key_sources_are_kept():
    dump = resolve(parse_scenario_text(TEXT.replace("value: sekrit-1", "env: MB_KEY"))).dump()
    assert redact_scenario(dump)["target"]["api_key"]["env"] == "MB_KEY"


def test_secret_header_names():
    assert all(map(is_secret_header, ["X-API-Key", "authorization", "X-Auth-Token", "Proxy-Authorization"]))
    assert not any(map(is_secret_header, ["Accept", "X-Env", "Content-Type"]))
