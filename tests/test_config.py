"""Layered configuration: clear errors that name the file and key."""

from pathlib import Path

import pytest

from jobs.config import ConfigError, load_settings, resolve_uri


def test_local_defaults_load_and_resolve_relative_paths():
    s = load_settings("local")
    assert s.spark.master == "local[*]"
    assert s.lake_root.startswith("file:/") and s.lake_root.endswith("/lake")


def test_set_overrides_typed_values():
    s = load_settings("local", ["spark.shuffle_partitions=3", "validation.row_count_collapse_ratio=0.5"])
    assert s.spark.shuffle_partitions == 3
    assert s.validation.row_count_collapse_ratio == 0.5


def test_unknown_key_names_file_and_key(tmp_path: Path):
    (tmp_path / "spark.yaml").write_text("spark:\n  shuffle_partitons: 4\n")
    with pytest.raises(ConfigError) as e:
        load_settings(str(tmp_path))
    assert "spark.yaml" in str(e.value) and "spark.shuffle_partitons" in str(e.value)
    assert "unknown key" in str(e.value)


def test_wrong_type_names_file_and_key(tmp_path: Path):
    (tmp_path / "gen.yaml").write_text("generator:\n  customers: lots\n")
    with pytest.raises(ConfigError) as e:
        load_settings(str(tmp_path))
    assert "gen.yaml" in str(e.value) and "generator.customers" in str(e.value)


def test_set_errors_name_the_override():
    with pytest.raises(ConfigError, match=r"--set spark.bogus: unknown key 'spark.bogus'"):
        load_settings("local", ["spark.bogus=1"])
    with pytest.raises(ConfigError, match="expected key=value"):
        load_settings("local", ["spark.master"])


def test_missing_env_folder_is_clear():
    with pytest.raises(ConfigError, match="no folder"):
        load_settings("nowhere-env")


def test_cluster_example_is_valid_and_remote():
    s = load_settings("cluster")
    assert s.spark.master.startswith("spark://")
    assert s.lake_root.startswith("s3a://")
    assert s.mlflow.tracking_uri.startswith("http")
    assert s.privacy.allow_local_key is False


def test_uris_pass_through_and_paths_resolve(tmp_path: Path):
    assert resolve_uri("s3a://bucket/x") == "s3a://bucket/x"
    assert resolve_uri(str(tmp_path)) == "file:" + str(tmp_path.resolve())
