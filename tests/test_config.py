import pytest

from harness import ConfigError, HarnessWarning, IntegrationTestConfig
from harness.config_text import find_ini


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


def test_an_ini_file_without_a_harness_section_is_left_to_its_tool(tmp_path):
    """Not parsed at all (the plugin looks in every pytest run): one configparser cannot read is no error."""
    (tmp_path / "tox.ini").write_text("[testenv]\ncommands =\n  pytest\nthis line has no section or value\n")
    assert find_ini(tmp_path) is None
    assert IntegrationTestConfig.load(environ={}, search_from=tmp_path).seed is None


def test_a_duplicate_key_elsewhere_in_tox_ini_is_tolerated(tmp_path):
    (tmp_path / "tox.ini").write_text("[testenv]\ndeps = a\ndeps = b\n\n[harness]\nseed = 7\n")
    assert IntegrationTestConfig.load(environ={}, search_from=tmp_path).seed == 7


# -- the generic per-service settings of the built-in services ------------------------------------


def test_service_urls_from_the_environment():
    environ = {"HARNESS_REDIS_URL": "redis://:pw@cache:6379/0", "HARNESS_KAFKA_URL": "broker-1:9092,broker-2:9092"}
    config = IntegrationTestConfig.load(environ=environ, search_from="/")
    assert config.redis_url == "redis://:pw@cache:6379/0" and config.url_for("redis") == config.redis_url
    assert config.kafka_url == "broker-1:9092,broker-2:9092" and config.url_for("kafka") == config.kafka_url
    assert config.postgres_url is None and config.url_for("postgres") is None
    assert "pw" not in repr(config)


def test_kafka_bootstrap_is_the_older_name_of_kafka_url():
    config = IntegrationTestConfig.load(environ={"HARNESS_KAFKA_BOOTSTRAP": "old:9092"}, search_from="/")
    assert config.kafka_url == "old:9092" and config.kafka_bootstrap == "old:9092"
    both = {"HARNESS_KAFKA_BOOTSTRAP": "old:9092", "HARNESS_KAFKA_URL": "new:9092"}
    assert IntegrationTestConfig.load(environ=both, search_from="/").kafka_url == "new:9092"  # its own name wins
    assert IntegrationTestConfig(kafka_bootstrap="old:9092", kafka_url="new:9092").kafka_url == "new:9092"
    assert IntegrationTestConfig(kafka_bootstrap="old:9092").kafka_url == "old:9092"


def test_postgres_bin_dir_is_the_older_name_of_postgres_bin(tmp_path):
    config = IntegrationTestConfig.load(environ={"HARNESS_POSTGRES_BIN_DIR": "/opt/pg/bin"}, search_from="/")
    assert config.postgres_bin == "/opt/pg/bin" and config.setting("postgres", "bin") == "/opt/pg/bin"
    config = IntegrationTestConfig.load(environ={"HARNESS_POSTGRES_BIN": "/usr/lib/postgresql/16/bin"},
                                        search_from="/")
    assert config.postgres_bin == "/usr/lib/postgresql/16/bin"
    both = {"HARNESS_POSTGRES_BIN_DIR": "/old", "HARNESS_POSTGRES_BIN": "/new"}
    assert IntegrationTestConfig.load(environ=both, search_from="/").postgres_bin == "/new"
    (tmp_path / "setup.cfg").write_text("[harness]\npostgres_bin_dir = /from/ini\n")
    assert IntegrationTestConfig.load(environ={}, search_from=tmp_path).postgres_bin == "/from/ini"


def test_image_defaults():
    config = IntegrationTestConfig.load(environ={}, search_from="/")
    assert config.postgres_image == "postgres:16-alpine"
    assert config.redis_image == "redis:7-alpine"
    assert IntegrationTestConfig.load(environ={"HARNESS_POSTGRES_IMAGE": "postgres:17"},
                                      search_from="/").postgres_image == "postgres:17"


def test_redis_databases_out_of_range_says_the_range():
    with pytest.raises(ConfigError) as excinfo:
        IntegrationTestConfig(redis_databases=1)
    assert str(excinfo.value) == (
        "redis_databases=1 must be between 2 and 100000 (database 0 holds harness's leases)."
    )
    with pytest.raises(ConfigError) as excinfo:
        IntegrationTestConfig.load(environ={"HARNESS_REDIS_DATABASES": "100001"}, search_from="/")
    assert str(excinfo.value) == ("HARNESS_REDIS_DATABASES='100001' must be between 2 and 100000 (database 0 holds "
                                  "harness's leases). Fix or unset HARNESS_REDIS_DATABASES.")
    with pytest.raises(ConfigError) as excinfo:
        IntegrationTestConfig.load(environ={"HARNESS_REDIS_DATABASES": "many"}, search_from="/")
    assert str(excinfo.value) == (
        "HARNESS_REDIS_DATABASES='many' is not valid: expected a whole number. Fix or unset HARNESS_REDIS_DATABASES."
    )
    assert IntegrationTestConfig(redis_databases=16).redis_databases == 16
    assert IntegrationTestConfig().redis_databases == 64


def test_a_misspelt_service_setting_suggests_the_right_one(tmp_path):
    with pytest.raises(ConfigError, match="unknown setting 'redis_databse'.*Did you mean 'redis_databases'[?]"):
        IntegrationTestConfig(redis_databse=16)
    (tmp_path / "setup.cfg").write_text("[harness]\nredis_databse = 16\n")
    with pytest.raises(ConfigError, match="unknown setting 'redis_databse'.*Did you mean 'redis_databases'[?]"):
        IntegrationTestConfig.load(environ={}, search_from=tmp_path)


def test_setting_and_attribute_agree():
    config = IntegrationTestConfig(postgres_url="postgresql://u:p@db:5432/app", redis_databases=8)
    assert config.setting("postgres", "url") == config.postgres_url == "postgresql://u:p@db:5432/app"
    assert config.setting("redis", "databases") == config.redis_databases == 8
    assert config.setting("kafka", "url") == config.kafka_url is None


def test_a_value_a_service_refuses_names_the_variable_it_came_from(tmp_path):
    with pytest.raises(ConfigError) as excinfo:
        IntegrationTestConfig.load(environ={"HARNESS_REDIS_PROVIDER": "lokal"}, search_from=tmp_path)
    assert str(excinfo.value) == (
        "HARNESS_REDIS_PROVIDER='lokal' is not a provider; valid values: auto, local, docker, external. "
        "Did you mean 'local'? Fix or unset HARNESS_REDIS_PROVIDER."
    )
    (tmp_path / "setup.cfg").write_text("[harness]\nredis_databases = 1\n")
    with pytest.raises(ConfigError) as excinfo:
        IntegrationTestConfig.load(environ={}, search_from=tmp_path)
    assert str(excinfo.value) == (
        f"{tmp_path / 'setup.cfg'} [harness]: redis_databases = '1' must be between 2 and 100000 (database 0 holds "
        f"harness's leases). Fix the value in {tmp_path / 'setup.cfg'}."
    )


def test_a_broken_service_plugin_is_a_warning_not_the_end_of_every_run(tmp_path):
    from tests.helpers import clean_env, run_python

    dist = tmp_path / "broken_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[harness.services]\nbroken = no_such_module:SERVICE\n")
    script = ("import warnings\nfrom harness.config import IntegrationTestConfig\n"
              "with warnings.catch_warnings(record=True) as caught:\n"
              "    warnings.simplefilter('always')\n"
              "    config = IntegrationTestConfig.load(redis_databases=5)\n"
              "print(config.redis_databases)\n"
              "print(caught[0].category.__name__, caught[0].message)\n")
    result = run_python(["-c", script], tmp_path, env=clean_env(PYTHONPATH=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("5\nHarnessWarning The service 'broken' is registered as 'no_such_module:SERVICE'")
    assert "ModuleNotFoundError: No module named 'no_such_module'" in result.stdout
    assert result.stdout.rstrip().endswith("Its settings are ignored until then.")


# -- the keywords of hand-written harnesses ---------------------------------------------------------

GUIDE_URLS = {
    "database_url": "postgresql://test:guide-pw@localhost:5432/test_db",
    "redis_url": "redis://localhost:6379/0",
    "kafka_bootstrap_servers": "localhost:9092",
}


def test_guide_config_with_servers_you_run_maps_onto_harness_settings():
    config = IntegrationTestConfig(**GUIDE_URLS, api_base_url="http://localhost:8000", use_containers=False,
                                   cleanup_after_test=True, timeout=45)
    assert config.postgres_url == config.database_url == GUIDE_URLS["database_url"]
    assert config.redis_url == GUIDE_URLS["redis_url"]
    assert config.kafka_url == config.kafka_bootstrap_servers == "localhost:9092"
    assert config.provider == "external" and config.use_containers is False
    assert config.startup_timeout == config.timeout == 45.0
    assert config.api_base_url == "http://localhost:8000"
    assert config.cleanup_after_test is True and config.parallel_execution is False
    assert config.retry_count is None and config.retry_delay is None
    assert "guide-pw" not in repr(config)


def test_the_guides_addresses_choose_the_external_provider_and_use_containers_a_local_one():
    from harness.registry import choose_provider
    from harness.services.catalog import get_service

    postgres = get_service("postgres")
    external = IntegrationTestConfig(database_url=GUIDE_URLS["database_url"], use_containers=False)
    assert choose_provider(postgres, external) == "external"
    with pytest.warns(HarnessWarning):
        started = IntegrationTestConfig(database_url=GUIDE_URLS["database_url"], use_containers=True)
    assert choose_provider(postgres, started) == "local"


def test_with_use_containers_the_guides_addresses_are_not_used_and_a_warning_says_so():
    with pytest.warns(HarnessWarning) as caught:
        config = IntegrationTestConfig(**GUIDE_URLS, use_containers=True)
    assert [str(warning.message) for warning in caught] == [
        "IntegrationTestConfig(use_containers=True): harness starts its own servers (local binaries, else Docker), "
        "so database_url, redis_url, kafka_bootstrap_servers are not used. Tests get the running servers' "
        "addresses from the bases (cls.database_url, cls.redis_url, cls.bootstrap_servers) or the fixtures "
        "(harness_postgres.url, ...); pass use_containers=False to use the servers at these addresses instead."
    ]
    assert caught[0].filename == __file__  # points at the user's line, not at harness
    assert config.provider == "auto" and config.use_containers is True
    assert config.database_url is None and config.redis_url is None and config.kafka_bootstrap_servers is None


def test_settings_harness_cannot_honour_warn_saying_what_it_does_instead():
    with pytest.warns(HarnessWarning) as caught:
        config = IntegrationTestConfig(parallel_execution=True, cleanup_after_test=False, retry_count=3,
                                       retry_delay=1.0)
    assert [str(warning.message) for warning in caught] == [
        "IntegrationTestConfig(parallel_execution=True) is not used: harness does not run tests in parallel itself. "
        "Run pytest with pytest-xdist's -n (pytest -n 4); harness gives every worker its own databases, topics and "
        "Redis databases on the shared servers.",
        "IntegrationTestConfig(cleanup_after_test=False) is not used: harness always undoes each test's data "
        "(rolled-back transaction, deleted topics, emptied Redis database) so that tests stay isolated. To look at "
        "the data, stop in the test (breakpoint()); keep=True (--harness-keep) leaves the servers running after "
        "the run.",
        "IntegrationTestConfig(retry_count=3, retry_delay=1.0) are not used: harness waits for each server with a "
        "readiness probe until it answers, up to startup_timeout (timeout=) seconds, instead of a fixed number of "
        "retries.",
    ]
    assert {warning.filename for warning in caught} == {__file__}
    assert (config.parallel_execution, config.cleanup_after_test) == (True, False)
    assert (config.retry_count, config.retry_delay) == (3, 1.0)


def test_what_harness_does_anyway_is_not_warned_about():
    # warnings are errors in this suite: any warning here fails the test
    config = IntegrationTestConfig(parallel_execution=False, cleanup_after_test=True, timeout=10,
                                   api_base_url="http://localhost:8000")
    assert config.replace(keep=True).parallel_execution is False  # a replace does not warn again either


def test_guide_names_read_back_sensible_defaults():
    config = IntegrationTestConfig()
    assert config.database_url is None and config.kafka_bootstrap_servers is None and config.redis_url is None
    assert config.use_containers is True and config.timeout == 30.0
    assert config.cleanup_after_test is True and config.parallel_execution is False
    assert config.retry_count is None and config.retry_delay is None and config.api_base_url is None
    assert IntegrationTestConfig(provider="external").use_containers is False


def test_a_misspelt_guide_keyword_suggests_it(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown setting 'databse_url'.*\. Did you mean 'database_url'\?$"):
        IntegrationTestConfig(databse_url="postgresql://localhost/test_db")
    with pytest.raises(ConfigError, match=r"^config_overrides: unknown setting 'use_container'.*Did you mean "
                                          r"'use_containers'\?$"):
        IntegrationTestConfig().replace(use_container=True)
    with pytest.raises(ConfigError, match=r"unknown setting 'kafka_bootstrap_server'.*Did you mean "
                                          r"'kafka_bootstrap_servers'\?$"):
        IntegrationTestConfig.load(environ={}, search_from=tmp_path, kafka_bootstrap_server="localhost:9092")


def test_use_containers_false_without_any_address_is_an_error():
    with pytest.raises(ConfigError) as excinfo:
        IntegrationTestConfig(use_containers=False)
    assert str(excinfo.value) == (
        "IntegrationTestConfig(use_containers=False): harness is to use servers you run, but no address was given. "
        "Pass database_url=..., redis_url=... or kafka_bootstrap_servers=... (or set HARNESS_POSTGRES_URL, "
        "HARNESS_REDIS_URL, HARNESS_KAFKA_URL), or use_containers=True to let harness start them."
    )
    # an address from the environment is one
    config = IntegrationTestConfig.load(environ={"HARNESS_REDIS_URL": "redis://cache:6379/0"}, search_from="/",
                                        use_containers=False)
    assert config.redis_url == "redis://cache:6379/0" and config.provider == "external"


def test_a_guide_keyword_and_harness_name_for_one_setting_are_refused_together():
    with pytest.raises(ConfigError) as excinfo:
        IntegrationTestConfig(database_url="postgresql://a/x", postgres_url="postgresql://b/x")
    assert str(excinfo.value) == (
        "IntegrationTestConfig: database_url and postgres_url are the same setting (postgres_url); give one of them."
    )
    with pytest.raises(ConfigError, match="kafka_bootstrap_servers and kafka_bootstrap are the same setting"):
        IntegrationTestConfig(kafka_bootstrap_servers="a:9092", kafka_bootstrap="b:9092")
    with pytest.raises(ConfigError, match="timeout and startup_timeout are the same setting"):
        IntegrationTestConfig(timeout=5, startup_timeout=6)
    with pytest.raises(ConfigError) as excinfo:
        IntegrationTestConfig(use_containers=False, provider="local", database_url="postgresql://a/x")
    assert str(excinfo.value) == (
        "IntegrationTestConfig: use_containers=False and provider='local' contradict each other; give one of them "
        "(use_containers=False means provider='external')."
    )
    assert IntegrationTestConfig(use_containers=True, provider="local").provider == "local"  # no contradiction


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"use_containers": "yes"}, "use_containers='yes' is not valid: expected True or False."),
        ({"timeout": 0}, "timeout=0 is not valid: expected a positive number of seconds (harness's startup_timeout)."),
        ({"retry_count": -1}, "retry_count=-1 is not valid: expected a whole number, 0 or more."),
        ({"retry_delay": "1s"}, "retry_delay='1s' is not valid: expected a number of seconds, 0 or more."),
        ({"api_base_url": "localhost:8000"},
         "api_base_url='localhost:8000' is not valid: expected a URL starting with http:// or https://."),
    ],
)
def test_a_bad_value_of_a_guide_keyword_says_what_it_takes(settings, message):
    with pytest.raises(ConfigError) as excinfo:
        IntegrationTestConfig(**settings)
    assert str(excinfo.value) == f"IntegrationTestConfig: {message}"


def test_guide_keywords_work_through_load_and_replace(tmp_path):
    environ = {"HARNESS_STARTUP_TIMEOUT": "9", "HARNESS_POSTGRES_URL": "postgresql://env/x"}
    config = IntegrationTestConfig.load(environ=environ, search_from=tmp_path, timeout=12,
                                        database_url="postgresql://argument/x", api_base_url="http://app:8000")
    assert config.timeout == 12.0 and config.database_url == "postgresql://argument/x"  # arguments beat env
    assert config.api_base_url == "http://app:8000"
    changed = config.replace(kafka_bootstrap_servers=["k1:9092", "k2:9092"], retry_count=None)
    assert changed.kafka_url == "k1:9092,k2:9092"
    assert changed.api_base_url == "http://app:8000" and changed.database_url == "postgresql://argument/x"
    assert config.replace(use_containers=False).provider == "external"
    assert config.replace(database_url="postgresql://other/x").postgres_url == "postgresql://other/x"
    assert config.replace(api_base_url="http://other:8000").api_base_url == "http://other:8000"
