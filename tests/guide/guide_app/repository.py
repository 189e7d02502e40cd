from guide_app.models import Order, User


class UserRepository:
    def __init__(self, session):
        self.session = session

    def create(self, email, name):
        user = User(email=email, name=name)
        self.session.add(user)
        self.session.commit()
        return user

    def get_by_email(self, email):
        return self.session.query(User).filter_by(email=email).first()

    def place_order(self, user, total):
        order = Order(user=user, total=total)
        self.session.add(order)
        self.session.commit()
        return order
