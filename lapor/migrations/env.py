"""Alembic environment: runs against the URL set on the config (see lapor.db)."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from lapor import models  # noqa: F401  (registers every table on Base.metadata)

# The WhatsApp channel and the console keep their tables in their own modules.
from lapor.console import models as _console_models  # noqa: F401, E402
from lapor.models import Base
from lapor.whatsapp import models as _wa_models  # noqa: F401, E402

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section) or {},
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
