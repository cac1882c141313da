import time

import pytest

from transforms.code.secret_scan import NOISY_PLUGINS, SecretScanner, added_lines, plugin_names, secrets_reason

AWS_KEY = "AKIAZ3MHJ5Q7PLV4XK2D"
GITHUB_TOKEN = "ghp_" + "R8sKq2LmX7vN4bT1cW9yZ3pD6fH0jA5eG2uQ"
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----"


@pytest.fixture(scope="module")
def scanner():
    return SecretScanner()


def block(path, search, replace):
    return {"path": path, "search": search, "replace": replace}


def test_added_lines_are_replace_lines_not_in_search():
    blocks = [block("a.py", "x = 1\nkey = 'old'\n", "x = 1\nkey = 'new'\n"), block("b.py", "", "y = 2\n\n"),
              block("a.py", "z = 3\n", "z = 3\n")]
    assert added_lines(blocks) == {"a.py": ["key = 'new'"], "b.py": ["y = 2"]}


def test_plugins_are_the_defaults_minus_the_noisy_ones():
    names = plugin_names()
    assert {"AWSKeyDetector", "GitHubTokenDetector", "PrivateKeyDetector"} <= set(names)
    assert not NOISY_PLUGINS & set(names)


@pytest.mark.parametrize("path, line, kind", [
    ("settings.py", f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"', "AWS Access Key"),
    ("client.go", f'const token = "{GITHUB_TOKEN}"', "GitHub Token"),
    ("deploy/key.pem", PRIVATE_KEY, "Private Key"),
])
def test_secrets_in_added_code_are_found(scanner, path, line, kind):
    sample = {"blocks": [block(path, "", f"{line}\n")]}
    [scanned] = scanner.scan([sample])
    assert (scanned["has_secrets"], scanned["secret_types"]) == (True, [kind])
    assert secrets_reason(scanned) == "secrets"


def test_ordinary_code_and_removed_secrets_are_not_flagged(scanner):
    ordinary = [block("app.py", "", 'password = os.environ["DB_PASSWORD"]\nsha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"\n'
                      'uuid = "123e4567-e89b-12d3-a456-426614174000"\nHOST = "203.0.113.7"\n'
                      'data = "U29tZSBsb25nIGJhc2U2NCBlbmNvZGVkIHRleHQgaGVyZQ=="\n'),
                block("old.py", f'KEY = "{AWS_KEY}"\n', 'KEY = os.environ["KEY"]\n')]
    [scanned] = scanner.scan([{"blocks": ordinary}])
    assert (scanned["has_secrets"], scanned["secret_types"]) == (False, [])
    assert secrets_reason(scanned) is None


def test_a_thousand_samples_take_seconds(scanner):
    code = "".join(f"    value_{i} = compute(arg_{i}, 'text {i}', retries=3)  # step {i}\n" for i in range(40))
    samples = [{"blocks": [block(f"pkg/mod_{n}.py", "", code)]} for n in range(1000)]
    started = time.perf_counter()
    scanned = scanner.scan(samples)
    assert time.perf_counter() - started < 20 and not any(s["has_secrets"] for s in scanned)


def test_the_line_prefilter_changes_no_verdict():
    lines = [f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"', f'token = "{GITHUB_TOKEN}"', PRIVATE_KEY,
             'db_password = "Tr0ub4dor&3-horse"', 'ip = "52.12.3.4"', 'x = compute(1, 2)',
             "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", 'url = "https://user:s3cr3t@host/x"']
    fast = SecretScanner()
    fast.setup()
    assert fast._patterns is not None
    with_prefilter = [fast.secret_types({"f.py": [line]}) for line in lines]
    fast._patterns = None
    assert [fast.secret_types({"f.py": [line]}) for line in lines] == with_prefilter
    assert sum(bool(types) for types in with_prefilter) >= 4
