"""The shop's data access, written the way application code is: it commits its own work."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from samples.shop.models import Order, User


class ShopRepository:
    """Users and orders over one SQLAlchemy session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create_user(self, email: str, name: str) -> User:
        user = User(email=email.lower(), name=name)
        self.session.add(user)
        self.session.commit()
        return user

    def get_user(self, user_id: int) -> User | None:
        return self.session.get(User, user_id)

    def rename_user(self, user_id: int, name: str) -> User:
        user = self.session.get(User, user_id)
        if user is None:
            raise LookupError(f"no user {user_id}")
        user.name = name
        self.session.commit()
        return user

    def get_user_by_email(self, email: str) -> User | None:
        return self.session.scalar(select(User).where(User.email == email.lower()))

    def place_order(self, user: User, total_cents: int) -> Order:
        if total_cents <= 0:
            raise ValueError(f"an order must cost something, got {total_cents} cents")
        order = Order(user=user, total_cents=total_cents)
        self.session.add(order)
        self.session.commit()
        return order

    def orders_for(self, user: User) -> list[Order]:
        return list(self.session.scalars(select(Order).where(Order.user_id == user.id).order_by(Order.id)))

    def mark_paid(self, order_id: int) -> Order:
        order = self.session.get(Order, order_id)
        if order is None:
            raise LookupError(f"no order {order_id}")
        order.status = "paid"
        self.session.commit()
        return order

    def revenue_cents(self) -> int:
        paid = select(func.coalesce(func.sum(Order.total_cents), 0)).where(Order.status == "paid")
        return int(self.session.scalar(paid) or 0)

    def delete_user(self, user: User) -> None:
        self.session.delete(user)  # its orders go with it (cascade)
        self.session.commit()
