"""DatabaseTestBase as the guides write it: class hooks, the guide's own sessionmaker, setup_models."""

from guide_app.models import User
from guide_app.repository import UserRepository
from sqlalchemy import Column, Integer, String
from sqlalchemy.orm import declarative_base, sessionmaker

from harness import DatabaseTestBase


class TestUserRepository(DatabaseTestBase):
    @classmethod
    def setup_class(cls):
        super().setup_class()
        cls.SessionLocal = sessionmaker(bind=cls.engine)

    @classmethod
    def teardown_class(cls):
        cls.SessionLocal = None
        super().teardown_class()

    def setup_method(self):
        self.session = self.SessionLocal()
        self.repository = UserRepository(self.session)

    def teardown_method(self):
        self.session.close()

    def test_create_user(self):
        user = self.repository.create("ada@example.com", "Ada")
        assert user.id is not None
        assert self.repository.get_by_email("ada@example.com").name == "Ada"

    def test_place_order(self):
        user = self.repository.create("ada@example.com", "Ada")  # the same email: the last test's is gone
        order = self.repository.place_order(user, 42)
        assert self.session.query(User).count() == 1
        assert order.user.email == "ada@example.com"

    def test_get_session(self):
        with self.get_session() as session:
            session.add(User(email="grace@example.com", name="Grace"))
        with self.get_session() as session:
            assert session.query(User).filter_by(email="grace@example.com").one().name == "Grace"


class TestUserRepositoryAgain(DatabaseTestBase):
    """The same rows again: a UniqueViolation here would mean the last class's commits were real."""

    @classmethod
    def setup_class(cls):
        super().setup_class()
        cls.SessionLocal = sessionmaker(bind=cls.engine)

    def test_same_email_again(self):
        session = self.SessionLocal()
        try:
            repository = UserRepository(session)
            repository.create("ada@example.com", "Ada again")
            assert session.query(User).count() == 1
        finally:
            session.close()


class TestModelsDeclaredInTheClass(DatabaseTestBase):
    @classmethod
    def setup_models(cls):
        Base = declarative_base()

        class Product(Base):
            __tablename__ = "products"
            id = Column(Integer, primary_key=True)
            sku = Column(String(20), unique=True, nullable=False)

        cls.Base = Base
        cls.Product = Product

    def setup_method(self):
        self.session = self.get_session_factory()()

    def get_session_factory(self):
        return sessionmaker(bind=self.engine)

    def teardown_method(self):
        self.session.close()

    def test_product(self):
        self.session.add(self.Product(sku="A-1"))
        self.session.commit()
        assert self.session.query(self.Product).count() == 1

    def test_product_again(self):
        self.session.add(self.Product(sku="A-1"))
        self.session.commit()
        assert self.session.query(self.Product).count() == 1
