import pg from 'pg';

/**
 * ANALYZE of every table of the vault's schema changed by more than 50 rows plus a fifth of its size since its
 * statistics were gathered: autovacuum's own rule, with twice its margin, for databases where autovacuum is
 * off or behind (ADR 0030). Statistics gathered while a table was small, and never again, made every plan
 * on it a guess; and a pooled connection keeps a statement's plan until statistics change, so one made on a
 * table of a few rows went on being used after it had grown (an ANALYZE is what makes every session plan
 * again). Where autovacuum runs, its analyze comes first and this finds nothing to do. Returns the tables
 * analyzed. A table the role does not own is skipped by PostgreSQL with a warning, not an error.
 */
export async function refreshStatistics(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>(
    `SELECT s.relname AS name FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
      WHERE s.schemaname = current_schema() AND s.n_mod_since_analyze > 50 + 0.2 * greatest(c.reltuples, 0)
      ORDER BY s.relname`,
  );
  for (const { name } of rows) await pool.query(`ANALYZE ${pg.escapeIdentifier(name)}`);
  return rows.map((r) => r.name);
}
