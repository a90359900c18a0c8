import pg from 'pg';

/**
 * ANALYZE of every table of the vault's schema changed by more than 50 rows plus a fifth of its size since its
 * statistics were gathered: autovacuum's own rule, with twice its margin, for databases where autovacuum is
 * off or behind (ADR 0030). Statistics gathered while a table was small, and never again, made every plan
 * on it a guess; and a pooled connection keeps a statement's plan until statistics change, so one made on a
 * table of a few rows went on being used after it had grown (an ANALYZE is what makes every session plan
 * again). Where autovacuum runs, its analyze comes first and this finds nothing to do. Returns the tables
 * analyzed; one whose lock is not granted within 2 s waits for the next round. A table the role does not own
 * is skipped by PostgreSQL with a warning, not an error.
 */
export async function refreshStatistics(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>(
    `SELECT s.relname AS name FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
      WHERE s.schemaname = current_schema() AND s.n_mod_since_analyze > 50 + 0.2 * greatest(c.reltuples, 0)
      ORDER BY s.relname`,
  );
  const analyzed: string[] = [];
  const client = await pool.connect();
  try {
    for (const { name } of rows) {
      // Bounded: a table locked by someone else's VACUUM or index build is skipped until the next round, and
      // no statement timeout (dropped behind a pooler) leaves the sweep waiting on it.
      await client.query('BEGIN');
      try {
        await client.query(`SET LOCAL lock_timeout = '2s'`);
        await client.query(`SET LOCAL statement_timeout = '120s'`);
        await client.query(`ANALYZE ${pg.escapeIdentifier(name)}`);
        await client.query('COMMIT');
        analyzed.push(name);
      } catch {
        await client.query('ROLLBACK');
      }
    }
  } finally {
    client.release();
  }
  return analyzed;
}
