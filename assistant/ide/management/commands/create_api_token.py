from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from assistant.ide.services import api_token_create
from assistant.shop.errors import DomainError


class Command(BaseCommand):
    help = "Create a bearer token for an IDE plugin and print it (it is shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--name", default="IDE", help="What the token is for, e.g. 'laptop VS Code'."
        )

    def handle(self, *args, username: str, name: str, **options):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {username!r}.") from None
        try:
            _, raw = api_token_create(user=user, name=name)
        except DomainError as error:
            raise CommandError(error.message) from None
        self.stdout.write(raw)
