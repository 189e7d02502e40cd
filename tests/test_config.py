import pytest

from harness import ConfigError, IntegrationTestConfig


def test_defaults():
    config = IntegrationTestConfig.load(environ={}, search_from="/")
    assert config.provider == "auto"
    assert config.startup_timeout == 30.0
    assert config.seed is None
    assert config.keep is False


def test_precedence_argument_over_cli_over_ini_over_env(tmp_path):
    (tmp_path / "setup.cfg").write_text("[harness]\nseed = 3\nstartup_timeout = 7\nkeep = yes\n")
    env = {"HARNESS_SEED": "4", "HARNESS_STARTUP_TIMEOUT": "9", "HARNESS_CONNECT_TIMEOUT": "2", "HARNESS_KEEP": "0"}
    config = IntegrationTestConfig.load(cli={"seed": 2}, environ=env, search_from=tmp_path, seed=1)
    assert config.seed == 1
    assert IntegrationTestConfig.load(cli={"seed": 2}, environ=env, search_from=tmp_path).seed == 2
    assert IntegrationTestConfig.load(environ=env, search_from=tmp_path).seed == 3
    assert config.startup_timeout == 7.0  # ini beats env
    assert config.connect_timeout == 2.0  # env beats default
    assert config.keep is True


def test_zero_is_a_value_not_unset(tmp_path):
    config = IntegrationTestConfig.load(environ={"HARNESS_SEED": "5"}, search_from=tmp_path, seed=0)
    assert config.seed == 0


def test_tox_ini_section_is_read_and_found_from_a_subdirectory(tmp_path):
    (tmp_path / "tox.ini").write_text("[tox]\nenvlist = py3\n\n[harness]\nallow_cleanup = qa_db, staging_db\n")
    sub = tmp_path / "pkg"
    sub.mkdir()
    config = IntegrationTestConfig.load(environ={}, search_from=sub)
    assert config.allow_cleanup == ("qa_db", "staging_db")


def test_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigError) as excinfo:
        IntegrationTestConfig.load(environ={"HARNESS_STARTUP_TIMEOUT": "soon"}, search_from="/")
    assert str(excinfo.value) == (
        "HARNESS_STARTUP_TIMEOUT='soon' is not valid: expected a number of seconds. "
        "Fix or unset HARNESS_STARTUP_TIMEOUT."
    )


def test_unknown_ini_key_suggests_the_right_one(tmp_path):
    (tmp_path / "setup.cfg").write_text("[harness]\nstartup_timout = 5\n")
    with pytest.raises(ConfigError, match="unknown setting 'startup_timout'.*Did you mean 'startup_timeout'"):
        IntegrationTestConfig.load(environ={}, search_from=tmp_path)


def test_misspelt_provider_lists_valid_values():
    with pytest.raises(ConfigError) as excinfo:
        IntegrationTestConfig(provider="lcoal")
    assert str(excinfo.value) == (
        "provider='lcoal' is not a provider; valid values: auto, local, docker, external. Did you mean 'local'?"
    )


def test_replace_rejects_unknown_names():
    with pytest.raises(ConfigError, match="Did you mean 'keep'"):
        IntegrationTestConfig().replace(kep=True)


def test_non_positive_timeout_is_refused():
    with pytest.raises(ConfigError, match="startup_timeout must be a positive number"):
        IntegrationTestConfig(startup_timeout=0)


def test_url_is_not_in_repr():
    config = IntegrationTestConfig(postgres_url="postgresql://u:hunter2@db:5432/x")
    assert "hunter2" not in repr(config)


def test_a_setup_cfg_that_cannot_be_parsed_is_an_error_not_skipped(tmp_path):
    (tmp_path / "setup.cfg").write_text("[harness]\nseed = 5\nthis line has no section or value\n")
    with pytest.raises(ConfigError) as excinfo:
        IntegrationTestConfig.load(environ={}, search_from=tmp_path)
    message = str(excinfo.value)
    assert message.startswith(f"{tmp_path / 'setup.cfg'} could not be parsed (")
    assert message.endswith(
        "so harness cannot tell whether it holds a [harness] section. Fix its syntax, or run from a directory "
        "without it."
    )


def test_a_duplicate_key_elsewhere_in_tox_ini_is_tolerated(tmp_path):
    (tmp_path / "tox.ini").write_text("[testenv]\ndeps = a\ndeps = b\n\n[harness]\nseed = 7\n")
    assert IntegrationTestConfig.load(environ={}, search_from=tmp_path).seed == 7
