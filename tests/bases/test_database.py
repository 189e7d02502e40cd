import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from harness import ConfigError, DatabaseTestBase
from harness.data import schema
from harness.registry import registry
from tests.bases.conftest import problems, run_case, settled_connections_to
from tests.helpers import write_migrations
from tests.models import Base, Order, User


def users(session):
    return session.scalar(select(func.count()).select_from(User))


class TestTransactionIsolation(DatabaseTestBase):
    """Both tests insert the same unique name: either would fail if it saw the other's row."""

    metadata = Base.metadata

    @classmethod
    def seed_data(cls, session):
        cls.admin = User(name="admin")
        session.add(cls.admin)

    def test_first(self):
        self.session.add(User(name="same"))
        self.session.commit()  # what application code does: only a savepoint is released
        assert users(self.session) == 2

    def test_second(self):
        self.session.add(User(name="same"))
        self.session.commit()
        assert users(self.session) == 2

    def test_class_data_is_a_per_test_copy_in_this_session(self):
        assert self.admin is not type(self).admin
        assert self.admin in self.session
        self.admin.name = "renamed"
        self.session.flush()
        assert self.session.scalar(select(User.name).where(User.id == self.admin.id)) == "renamed"

    def test_class_data_unchanged_by_other_tests(self):
        assert self.session.scalar(select(User.name).where(User.id == self.admin.id)) == "admin"
        assert type(self).admin.name == "admin"

    def test_code_under_test_may_roll_back(self):
        self.session.add(User(name="discarded"))
        self.session.rollback()
        assert users(self.session) == 1

    def test_get_session_commits_into_the_test_transaction(self):
        with self.get_session() as other:
            other.add(User(name="via get_session"))
        assert users(self.session) == 2

    def test_get_session_rolls_back_on_error(self):
        with pytest.raises(RuntimeError):
            with self.get_session() as other:
                other.add(User(name="doomed"))
                other.flush()
                raise RuntimeError("boom")
        assert users(self.session) == 1

    def test_data_manager_cleanup_inside_the_test(self):
        user = self.data.create(User, name="tracked")
        self.data.create(Order, user_id=user.id, total=1)
        assert self.data.cleanup() == 2
        assert users(self.session) == 1

    def test_attributes(self):
        assert type(self).database_url.startswith("postgresql+psycopg://")
        assert self.engine is type(self).engine
        assert self.connection.in_transaction()
        assert self.data.created == []


class TestSqliteIsolation(DatabaseTestBase):
    metadata = Base.metadata
    database = "sqlite"

    def test_first(self):
        self.session.add(User(name="same"))
        self.session.commit()
        assert users(self.session) == 1

    def test_second(self):
        self.session.add(User(name="same"))
        self.session.commit()
        assert users(self.session) == 1


class TestModelsDeclaredInTheClass(DatabaseTestBase):
    @classmethod
    def setup_models(cls):
        class Note(cls.Base):
            __tablename__ = "notes"
            id: Mapped[int] = mapped_column(primary_key=True)
            body: Mapped[str]

        cls.Note = Note

    def test_table_exists_and_rows_are_isolated(self):
        self.session.add(self.Note(body="hello"))
        self.session.flush()
        assert self.session.scalar(select(func.count()).select_from(self.Note)) == 1


class TestModelsOnABaseOfTheirOwn(DatabaseTestBase):
    """setup_models as the guides write it: its own declarative_base(), set as cls.Base."""

    @classmethod
    def setup_models(cls):
        from sqlalchemy import Column, Integer, String
        from sqlalchemy.orm import declarative_base

        Base = declarative_base()  # noqa: N806 - as the guides spell it

        class Product(Base):
            __tablename__ = "guide_products"
            id = Column(Integer, primary_key=True)
            sku = Column(String(20), unique=True, nullable=False)

        cls.Base = Base
        cls.Product = Product

    def test_its_tables_were_created(self):
        self.session.add(self.Product(sku="A-1"))
        self.session.commit()
        assert self.session.scalar(select(func.count()).select_from(self.Product)) == 1


def test_setup_models_setting_base_to_something_without_metadata_is_refused():
    class Case(DatabaseTestBase):
        database = "sqlite"

        @classmethod
        def setup_models(cls):
            cls.Base = object

        def test_nothing(self):
            pass

    result = run_case(Case)
    assert len(result.errors) == 1
    assert result.errors[0][1].rstrip().endswith(
        "ConfigError: test_setup_models_setting_base_to_something_without_metadata_is_refused.<locals>.Case"
        ".setup_models() set cls.Base to <class 'object'>, which has no SQLAlchemy metadata. Declare the models "
        "on cls.Base as given, or set cls.Base to your declarative base."
    )


def test_tables_in_a_postgresql_schema_get_their_schema_created():
    from sqlalchemy import Column, Integer, MetaData, Table

    metadata = MetaData()
    table = Table("ledger", metadata, Column("id", Integer, primary_key=True), schema="accounting")
    seen = []

    class Case(DatabaseTestBase):
        def test_insert(self):
            self.session.execute(table.insert().values(id=1))
            seen.append(self.session.execute(select(func.count()).select_from(table)).scalar_one())

    Case.metadata = metadata
    assert problems(run_case(Case)) == [] and seen == [1]


def test_a_failed_transaction_does_not_break_the_next_test():
    class Case(DatabaseTestBase):
        metadata = Base.metadata

        def test_1_breaks_the_transaction(self):
            with pytest.raises(Exception, match="no_such_table"):
                self.session.execute(text("SELECT * FROM no_such_table"))
            # left in a failed state on purpose: no rollback

        def test_2_connection_level_error(self):
            with pytest.raises(Exception, match="division by zero"):
                self.connection.execute(text("SELECT 1/0"))

        def test_3_works(self):
            self.session.add(User(name="fine"))
            self.session.flush()
            assert users(self.session) == 1

    result = run_case(Case)
    assert problems(result) == [] and result.testsRun == 3


def test_tracked_isolation_commits_for_real_and_deletes_what_tests_created():
    seen = {}

    class Case(DatabaseTestBase):
        metadata = Base.metadata
        isolation = "tracked"

        @classmethod
        def seed_data(cls, session):
            session.add(User(name="class-wide"))

        def test_commit_is_visible_to_other_connections(self):
            user = User(name="tracked")
            self.session.add(user)
            self.session.commit()
            self.session.add(Order(user_id=user.id, total=3))
            self.session.commit()
            with self.engine.connect() as other:
                seen["during"] = other.execute(text("SELECT count(*) FROM users")).scalar_one()

        def test_open_transaction_on_its_connection(self):
            self.connection.execute(text("SELECT count(*) FROM users"))  # holds a lock until rolled back
            self.session.add(User(name="committed too"))
            self.session.commit()

        def test_failed_transaction_left_behind(self):
            self.session.add(User(name="committed"))
            self.session.commit()
            with pytest.raises(Exception, match="division by zero"):
                self.session.execute(text("SELECT 1/0"))

        def test_rows_of_the_previous_test_are_gone(self):
            with self.engine.connect() as other:
                seen["next"] = other.execute(text("SELECT count(*) FROM users")).scalar_one()

    result = run_case(Case)
    assert problems(result) == []
    database = schema.shared_database(registry.acquire("postgres"), metadata=Base.metadata)
    with database.engine.connect() as connection:
        after = connection.execute(text("SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM orders)"))
        assert after.scalar_one() == 0
    assert seen == {"during": 2, "next": 1}


def test_truncate_isolation_removes_rows_written_by_any_connection():
    seen = []

    class Case(DatabaseTestBase):
        metadata = Base.metadata
        isolation = "truncate"

        @classmethod
        def seed_data(cls, session):
            session.add(User(name="seeded"))

        def test_1_writes_behind_harness_back(self):
            with self.engine.begin() as other:
                other.execute(text("INSERT INTO users (name) VALUES ('untracked')"))
            seen.append(users(self.session))

        def test_2_sees_only_the_seed(self):
            seen.append(users(self.session))

        def test_3_leaves_a_transaction_open_on_its_connection(self):
            # Its lock on users would block the TRUNCATE if harness did not roll it back first.
            self.connection.execute(text("SELECT count(*) FROM users"))
            self.connection.execute(text("INSERT INTO users (name) VALUES ('uncommitted')"))

        def test_4_after_it(self):
            seen.append(users(self.session))

    result = run_case(Case)
    assert problems(result) == []
    assert seen == [2, 1, 1]


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("isolation", "transacton", "Case.isolation = 'transacton' is not valid; valid values: 'transaction', "
                                    "'tracked', 'truncate'. Did you mean 'transaction'?"),
        ("database", "postgres", "Case.database = 'postgres' is not valid; valid values: 'postgresql', "
                                 "'sqlite'. Did you mean 'postgresql'?"),
    ],
)
def test_misspelt_class_attribute_fails_at_class_setup(attribute, value, message):
    class Case(DatabaseTestBase):
        def test_never_runs(self):
            raise AssertionError("must not run")

    Case.__qualname__ = "Case"
    setattr(Case, attribute, value)
    with pytest.raises(ConfigError) as excinfo:
        Case.setUpClass()
    assert str(excinfo.value) == message
    result = run_case(Case)
    assert len(result.errors) == 1 and "ConfigError" in result.errors[0][1]


def test_failing_class_setup_tears_down_what_it_started():
    endpoint = registry.acquire("postgres")
    database = schema.shared_database(endpoint, metadata=Base.metadata)
    references = registry.references(endpoint)
    database.engine.dispose()
    before = settled_connections_to(database.engine, database.name)

    class Case(DatabaseTestBase):
        metadata = Base.metadata

        @classmethod
        def seed_data(cls, session):
            session.add(User(name="half-seeded"))
            session.flush()
            raise RuntimeError("seed failed")

        def test_never_runs(self):
            raise AssertionError("must not run")

    with pytest.raises(RuntimeError, match="seed failed"):
        Case.setUpClass()
    assert "engine" not in Case.__dict__ and "_harness_state" not in Case.__dict__
    assert registry.references(endpoint) == references
    assert settled_connections_to(database.engine, database.name) == before
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM users")).scalar_one() == 0


def _commit_connection(test):
    test.connection.commit()


def _raw_commit_then_more(test):
    test.session.execute(text("COMMIT"))
    test.session.add(User(name="after the commit"))  # runs in a transaction the server opened on its own
    test.session.flush()


def _raw_commit_through_the_connection(test):
    test.connection.exec_driver_sql("COMMIT")


def _dbapi_commit(test):
    test.connection.connection.dbapi_connection.commit()


def _raw_rollback(test):
    test.session.execute(text("ROLLBACK"))


def _close_connection(test):
    test.connection.close()


ENDINGS = {
    "connection.commit()": (_commit_connection, "ended the class-level transaction (commit() or rollback()"),
    "session.execute(COMMIT), then more": (_raw_commit_then_more, "ended the class-level transaction underneath"),
    "exec_driver_sql(COMMIT)": (_raw_commit_through_the_connection, "ended the class-level transaction underneath"),
    "DBAPI commit()": (_dbapi_commit, "ended the class-level transaction underneath"),
    "session.execute(ROLLBACK)": (_raw_rollback, "ended the class-level transaction underneath"),
    "connection.close()": (_close_connection, "closed self.connection"),
}


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
@pytest.mark.parametrize("ending", list(ENDINGS))
def test_a_test_that_ends_the_class_transaction_is_named_and_nothing_it_did_survives(ending, database):
    action, cause = ENDINGS[ending]
    seen = []

    class Case(DatabaseTestBase):
        metadata = Base.metadata

        @classmethod
        def seed_data(cls, session):
            session.add(User(name="seeded"))

        def test_1_ends_it(self):
            self.session.add(User(name="leaked?"))
            self.session.flush()
            action(self)

        def test_2_next(self):
            seen.append(sorted(self.session.scalars(select(User.name))))

    Case.database = database
    result = run_case(Case)
    assert [error[0]._testMethodName for error in result.errors] == ["test_1_ends_it"], problems(result)
    message = result.errors[0][1]
    assert f"IsolationError: tests.bases.test_database.{Case.__qualname__}.test_1_ends_it {cause}" in message, message
    assert "savepoint" not in message.splitlines()[-1]
    assert seen == [["seeded"]], "the next test starts from the class data alone"
    assert result.testsRun == 2 and not result.failures
    if database == "postgresql":  # and nothing reaches the next class sharing the database
        shared = schema.shared_database(registry.acquire("postgres"), metadata=Base.metadata)
        with shared.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM users")).scalar_one() == 0


def test_fresh_database_is_a_private_copy_dropped_after_the_class():
    names = []

    class Case(DatabaseTestBase):
        metadata = Base.metadata
        fresh_database = True

        def test_own_database(self):
            names.append(self.session.execute(text("SELECT current_database()")).scalar_one())
            self.session.add(User(name="private"))
            self.session.commit()

    result = run_case(Case)
    assert problems(result) == []
    shared = schema.shared_database(registry.acquire("postgres"), metadata=Base.metadata)
    assert names[0] != shared.name and names[0].startswith(shared.name)
    from harness.data import databases as database_namespace

    databases, _now = database_namespace.list_databases(registry.acquire("postgres"), prefix="harness_")
    assert names[0] not in [name for name, _comment in databases]


def test_classes_with_the_same_schema_share_one_database():
    names = []

    def make():
        class Case(DatabaseTestBase):
            @classmethod
            def setup_models(cls):
                class Thing(cls.Base):
                    __tablename__ = "things"
                    id: Mapped[int] = mapped_column(primary_key=True)

            def test_name(self):
                names.append(self.session.execute(text("SELECT current_database()")).scalar_one())

        return Case

    assert problems(run_case(make())) == [] and problems(run_case(make())) == []
    assert len(names) == 2 and names[0] == names[1]


def test_migrations_upgrade_head_instead_of_create_all(tmp_path):
    seen = []

    class Case(DatabaseTestBase):
        migrations = write_migrations(tmp_path)

        def test_table_from_migration(self):
            self.session.execute(text("INSERT INTO widgets (label) VALUES ('w')"))
            seen.append(self.session.execute(text("SELECT count(*) FROM widgets")).scalar_one())

    result = run_case(Case)
    assert problems(result) == [] and seen == [1]


def test_missing_alembic_ini_is_a_clear_error(tmp_path):
    class Case(DatabaseTestBase):
        migrations = str(tmp_path / "nope.ini")

    with pytest.raises(ConfigError, match="no such alembic.ini"):
        Case.setUpClass()


@pytest.mark.parametrize(
    ("attribute", "value", "meant"),
    [("metdata", Base.metadata, "metadata"), ("isolaton", "tracked", "isolation"), ("databse", "sqlite", "database"),
     ("migration", "alembic.ini", "migrations"), ("fresh_databse", True, "fresh_database")],
)
def test_a_misspelt_setting_is_named_with_the_one_meant(attribute, value, meant):
    case = type("Case", (DatabaseTestBase,), {attribute: value, "test_x": lambda self: None})
    result = run_case(case)
    assert len(result.errors) == 1
    assert result.errors[0][1].rstrip().endswith(
        f"ConfigError: Case.{attribute} is not a harness setting, so it would be ignored. Did you mean {meant!r}?"
    )


def test_attributes_of_the_users_own_are_not_taken_for_misspelt_settings():
    class Case(DatabaseTestBase):
        database = "sqlite"
        databases = ["default", "replica"]  # close to 'database', but not a value it takes
        isolator = "round-robin"  # close to 'isolation', but not an isolation
        metadata_version = 3

        def test_x(self):
            pass

    result = run_case(Case)
    assert not result.errors and not result.failures


def test_a_session_the_test_sets_is_its_own_and_harness_closes_both_after_the_test():
    seen = {}

    class Case(DatabaseTestBase):
        metadata = Base.metadata

        def setup_method(self):
            super().setup_method()
            seen.setdefault("harness", self.session)
            self.session = Session(bind=self.connection, join_transaction_mode="create_savepoint")

        def test_1_writes_through_both(self):
            self.data.create(User, name="through harness's session")  # self.data keeps harness's session
            self.session.add(User(name="through the test's own"))
            self.session.flush()
            assert users(self.session) == 2
            seen["own"] = self.session  # left open, in a savepoint of its own inside the test's

        def test_2_starts_clean(self):
            assert users(self.session) == 0

    result = run_case(Case)
    assert problems(result) == []
    assert not seen["harness"].in_transaction() and not seen["own"].in_transaction()


class OwnEngine:
    """A class's hooks, as a guide writes them, that build an engine of the class's own."""

    metadata = Base.metadata

    @classmethod
    def setup_class(cls):
        super().setup_class()
        cls.harness_engine = cls.engine
        cls.engine = create_engine(cls.database_url)  # as guides build theirs

    @classmethod
    def teardown_class(cls):
        cls.engine.dispose()
        super().teardown_class()

    def test_commits_through_its_engine(self):
        with Session(self.engine) as session:
            session.add(User(name="committed through the class's own engine"))
            session.commit()


@pytest.mark.parametrize("isolation", ["transaction", "tracked"])
def test_an_engine_of_the_class_own_is_refused_where_harness_could_not_undo_its_commits(isolation):
    case = type("Case", (OwnEngine, DatabaseTestBase), {"isolation": isolation})
    result = run_case(case)
    [(_, trace)] = result.errors
    assert trace.rstrip().endswith(
        "IsolationError: Case.setup_class() replaced cls.engine with an engine of its own. harness undoes what tests "
        "write only through its own engine, so what they commit through this one would stay in the database (which "
        "classes with the same schema share). Use the cls.engine harness gives (it is on cls.database_url already) "
        "for the code under test, or set isolation = 'truncate' if that code must have an engine of its own (the "
        "tables are emptied after each test)."
    )
    assert "engine" not in case.__dict__ and "_harness_state" not in case.__dict__


def test_an_engine_of_the_class_own_is_fine_with_truncate_isolation_and_what_it_commits_is_removed():
    seen = {}

    class Case(OwnEngine, DatabaseTestBase):
        isolation = "truncate"

        def test_commits_through_its_engine(self):
            super().test_commits_through_its_engine()
            seen["harness engine"] = self.harness_engine

    result = run_case(Case)
    assert problems(result) == [] and result.testsRun == 1
    with seen["harness engine"].connect() as connection:
        assert connection.execute(select(func.count()).select_from(User)).scalar_one() == 0


def test_harness_engine_with_options_of_the_class_is_still_harness_engine():
    class Case(DatabaseTestBase):
        metadata = Base.metadata

        @classmethod
        def setup_class(cls):
            super().setup_class()
            cls.engine = cls.engine.execution_options(logging_token="users")  # the same pool, so the same database

        def test_x(self):
            assert self.session.scalar(select(func.count()).select_from(User)) == 0

    result = run_case(Case)
    assert problems(result) == [] and result.testsRun == 1
