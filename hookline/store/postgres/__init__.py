"""The PostgreSQL backend (asyncpg, for several processes): ``driver``, ``claims``, ``notify`` and its
migrations."""
