"""`serve --config FILE`: a JSON file of serve's options, overridden per key by MINIVNA_<KEY>,
the command line over both; bad keys and values named before start-up; `config --print` shows
the effective configuration with secrets masked."""
import json
import subprocess

import requests


def config_print(binary, *args, env=None):
    import os
    result = subprocess.run([str(binary), "config", "--print", *map(str, args)], capture_output=True, text=True,
                            timeout=30, env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_file_environment_and_command_line_in_that_order(minivna_bin, tmp_path):
    path = tmp_path / "minivna.json"
    path.write_text(json.dumps({"port": 9001, "study-quiet-seconds": 3, "cors-origin": ["http://a.test", "http://b.test"],
                                "no-metrics": True, "ai-concurrency": 3, "ai-attempts": 1, "compress-on-ingest": False}))
    settings = config_print(minivna_bin, "--config", path)
    assert settings["port"] == 9001 and settings["study-quiet-seconds"] == 3 and settings["no-metrics"] is True
    assert settings["cors-origin"] == ["http://a.test", "http://b.test"] and settings["ai-concurrency"] == 3
    # A number that could be read as a boolean is still the option's value.
    assert settings["ai-attempts"] == 1 and settings["compress-on-ingest"] is False
    overridden = config_print(minivna_bin, "--config", path, "--port", "9002", env={"MINIVNA_STUDY_QUIET_SECONDS": "7"})
    assert overridden["port"] == 9002 and overridden["study-quiet-seconds"] == 7
    from_env = config_print(minivna_bin, env={"MINIVNA_CONFIG": str(path)})
    assert from_env["port"] == 9001


def test_config_print_masks_secrets(minivna_bin, tmp_path):
    token = "a-secret-token-0123456789"
    result = subprocess.run([str(minivna_bin), "config", "--print"], capture_output=True, text=True, timeout=30,
                            env={"MINIVNA_API_KEYS": f"ops:admin+reader:{token}", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0 and token not in result.stdout
    settings = json.loads(result.stdout)
    assert settings["api-keys"] == ["ops:admin+reader:****"] and settings["authentication"] == "on"


def test_a_bad_key_or_value_is_named_before_start_up(minivna_bin, tmp_path):
    for content, needle in [({"prot": 8080}, "--prot"), ({"port": "eighty"}, "--port"), ([1, 2], "one JSON object"),
                            ({"Port": 1}, "\"Port\"")]:
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(content))
        result = subprocess.run([str(minivna_bin), "serve", "--config", str(path), "--data", str(tmp_path / "data")],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode != 0 and needle in result.stderr and str(path) in result.stderr, (content, result.stderr)


def test_serve_runs_with_its_file(start_server, tmp_path):
    path = tmp_path / "minivna.json"
    path.write_text(json.dumps({"log-format": "json", "no-metrics": True}))
    server = start_server("--config", str(path))
    assert requests.get(f"{server.origin}/metrics", timeout=10).status_code == 404
    assert requests.get(f"{server.base}/studies", timeout=10).status_code in (200, 204)
    server.stop()
    lines = [l for l in open(server.log_path, errors="replace").read().splitlines() if l.strip()]
    assert lines and all(json.loads(l)["message"] is not None for l in lines)
