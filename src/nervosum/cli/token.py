"""``nervosum token create``: a new API key, shown once, and the hash line that lets it in."""

from __future__ import annotations

import click


def _check_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and (not value.strip() or not value.isprintable() or "," in value):
        raise click.BadParameter(f"{value!r}: use a printable name without commas, e.g. ci-bot")
    return value.strip() if value else None


@click.group(short_help="Make API keys for the servers' authentication.")
def token() -> None:
    """API keys for `auth:` (docs/security.md). A server stores only their SHA-256
    hashes: in the file auth.keys_file / --api-keys-file names, or in the
    NERVOSUM_API_KEYS variable (lines separated by newlines or commas).

    \b
    Example:
      nervosum token create --scope predict --name web   # the key, then its line
      echo 'sha256:... predict web' >> keys.txt          # the second line printed
      nervosum serve examples/iris --api-keys-file keys.txt
      curl -H "Authorization: Bearer nvs_..." localhost:5000/predict -d '{...}'

    Health routes stay open; /metrics needs admin and /docs predict unless the
    auth: block says otherwise.
    """


@token.command(short_help="Print a new API key once, and the line to add to the keys.")
@click.option(
    "--scope",
    type=click.Choice(["predict", "admin"]),
    required=True,
    help="predict: inference, /info, /docs; admin: also refresh, load, unload, /metrics.",
)
@click.option("--name", callback=_check_name, help="Who holds the key, shown in the log.")
def create(scope: str, name: str | None) -> None:
    """Print a new random key (256 bits, prefix nvs_) on the first line of stdout and the
    line that lets it in on the second. The key is not stored anywhere: hand it to
    the client now. Add the second line to the keys file (or NERVOSUM_API_KEYS) and
    restart the server.

    \b
    Example:
      nervosum token create --scope admin --name ops
      nvs_Q2x...                                    <- give this to the client
      sha256:5f0c... admin ops                      <- add this to keys.txt
    """
    from nervosum.serving.auth.keys import key_line, new_key

    key = new_key()
    click.echo(key)
    click.echo(key_line(key, scope, name))
    click.echo(
        "The first line is the key (shown only now); add the second line to the file "
        "auth.keys_file / --api-keys-file names, or to NERVOSUM_API_KEYS.",
        err=True,
    )
