"""Tests of the throwaway PostgreSQL helper the other PostgreSQL tests rely on."""

from __future__ import annotations

import psycopg2
import pytest
from postgres_server import PostgresServer

pytestmark = pytest.mark.postgres


def test_fresh_database_round_trips_a_row(postgres_url: str) -> None:
    conn = psycopg2.connect(postgres_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE certs (id serial PRIMARY KEY, subject text NOT NULL)")
            cur.execute("INSERT INTO certs (subject) VALUES (%s)", ("CN=example.test",))
        with conn, conn.cursor() as cur:
            cur.execute("SELECT id, subject FROM certs")
            assert cur.fetchall() == [(1, "CN=example.test")]
    finally:
        conn.close()


def test_each_call_gives_a_distinct_empty_database(postgres_server: PostgresServer) -> None:
    first, second = postgres_server.create_database(), postgres_server.create_database()
    try:
        assert first != second
        with psycopg2.connect(first) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE only_in_first (x int)")
        conn.close()
        with psycopg2.connect(second) as conn, conn.cursor() as cur:
            cur.execute("SELECT current_database(), to_regclass('only_in_first')")
            name, table = cur.fetchone()
        conn.close()
        assert name == second.rsplit("/", 1)[1]
        assert table is None
    finally:
        for url in (first, second):
            postgres_server.drop_database(url.rsplit("/", 1)[1])
