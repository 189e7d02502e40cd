"""Models the library's own tests use: users -> orders -> items, and a composite-key table."""

from __future__ import annotations

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    metadata = MetaData()


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    orders: Mapped[list[Order]] = relationship(back_populates="user")


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    total: Mapped[int] = mapped_column(Integer, default=0)
    user: Mapped[User] = relationship(back_populates="orders")


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    sku: Mapped[str] = mapped_column(String(20))


class Shelf(Base):
    """Composite primary key, referenced by Slot through a composite foreign key."""

    __tablename__ = "shelves"
    aisle: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)


class Slot(Base):
    __tablename__ = "slots"
    id: Mapped[int] = mapped_column(primary_key=True)
    aisle: Mapped[int]
    position: Mapped[int]
    __table_args__ = (ForeignKeyConstraint(["aisle", "position"], ["shelves.aisle", "shelves.position"]),)
