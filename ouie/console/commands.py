"""Command-line commands of ouie.console (registered by ouie.cli): console users and the
supervisors' class profiles."""

from __future__ import annotations

from typing import Annotated

import typer

from ouie.store.records import Role

DATABASE_HELP = "Store URL (sqlite:///ouie.db, postgresql+psycopg://user@host/db)."

user_app = typer.Typer(help="Console users (passwords are stored as argon2 hashes only).")


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name (log-in name).")],
    role: Annotated[Role, typer.Option(help="What the user may do (see docs/console.md).")],
    database: Annotated[str, typer.Option(help=DATABASE_HELP)] = "sqlite:///ouie.db",
    actor: Annotated[str, typer.Option(help="Who creates the user (audited).")] = "admin",
) -> None:
    """Create a console user; the password is asked for twice and never echoed."""
    from sqlalchemy.exc import IntegrityError

    from ouie.console.auth import WeakPasswordError
    from ouie.console.users import create_user
    from ouie.store.repository import Store

    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    store = Store.open(database)
    try:
        create_user(store, name, role, password, actor=actor)
    except IntegrityError:
        typer.echo(f"a user named {name!r} already exists", err=True)
        raise typer.Exit(1) from None
    except WeakPasswordError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
    typer.echo(f"user {name} ({role.value}) created")


@user_app.command("disable")
def user_disable(
    name: Annotated[str, typer.Argument(help="User name.")],
    database: Annotated[str, typer.Option(help=DATABASE_HELP)] = "sqlite:///ouie.db",
    actor: Annotated[str, typer.Option(help="Who disables the user (audited).")] = "admin",
) -> None:
    """Stop a user from logging in; their open console sessions end at once (audited)."""
    from ouie.console.users import disable_user
    from ouie.store.repository import Store

    store = Store.open(database)
    try:
        disabled = disable_user(store, name, actor)
    finally:
        store.close()
    if not disabled:
        typer.echo(f"no active user named {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"user {name} disabled")


@user_app.command("password")
def user_password(
    name: Annotated[str, typer.Argument(help="User name.")],
    database: Annotated[str, typer.Option(help=DATABASE_HELP)] = "sqlite:///ouie.db",
    actor: Annotated[str, typer.Option(help="Who sets the password (audited).")] = "admin",
) -> None:
    """Set a user's password (asked twice, never echoed); their console sessions end at once."""
    from ouie.console.auth import WeakPasswordError
    from ouie.console.users import set_password
    from ouie.store.repository import Store

    password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    store = Store.open(database)
    try:
        changed = set_password(store, name, password, actor)
    except WeakPasswordError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
    if not changed:
        typer.echo(f"no user named {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"password of {name} changed; their sessions are ended")


@user_app.command("list")
def user_list(
    database: Annotated[str, typer.Option(help=DATABASE_HELP)] = "sqlite:///ouie.db",
) -> None:
    """List console users and their roles."""
    from rich.console import Console
    from rich.table import Table

    from ouie.core.timebase import ns_to_iso
    from ouie.store.repository import Store

    store = Store.open(database)
    try:
        users = store.list_users()
    finally:
        store.close()
    table = Table("user", "role", "active", "created (UTC)")
    for user in users:
        table.add_row(
            user.name, user.role, "yes" if user.active else "no", ns_to_iso(user.created_at_ns)
        )
    Console().print(table)


profile_app = typer.Typer(
    help="Class profiles by schedule (docs/fusion.md): the same as the console's profiles page."
)


@profile_app.command("set")
def profile_set(
    file: Annotated[str, typer.Argument(help="A YAML file holding one ClassProfile.")],
    database: Annotated[str, typer.Option(help=DATABASE_HELP)] = "sqlite:///ouie.db",
    actor: Annotated[
        str, typer.Option(help="The supervisor who sets it (audited).")
    ] = "supervisor",
) -> None:
    """Create or replace a class profile from a YAML file (validated; a bad field is named and
    nothing is stored); audited `profile.set` with the whole profile."""
    from ouie.core.config import ConfigError, load_yaml_config
    from ouie.fusion.profiles import ClassProfile
    from ouie.store.repository import Store

    try:
        profile = load_yaml_config(file, ClassProfile)
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    store = Store.open(database)
    try:
        store.set_profile(profile.name, profile.model_dump(mode="json", by_alias=True), actor)
    finally:
        store.close()
    typer.echo(f"profile set: {profile.summary()}")


@profile_app.command("remove")
def profile_remove(
    name: Annotated[str, typer.Argument(help="Profile name.")],
    database: Annotated[str, typer.Option(help=DATABASE_HELP)] = "sqlite:///ouie.db",
    actor: Annotated[str, typer.Option(help="The supervisor who removes it.")] = "supervisor",
) -> None:
    """Remove a class profile (audited `profile.delete`)."""
    from ouie.store.repository import Store

    store = Store.open(database)
    try:
        store.delete_profile(name, actor)
    except KeyError:
        typer.echo(f"no profile named {name!r}", err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
    typer.echo(f"profile {name} removed")


def register(app: typer.Typer) -> None:
    """Add this concern's commands to the `ouie` app."""
    app.add_typer(user_app, name="user")
    app.add_typer(profile_app, name="profile")
