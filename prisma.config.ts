import { defineConfig } from 'prisma/config';

// Prisma's CLI is used here only for `prisma generate` (which never runs the schema engine). Migrations are
// plain SQL under prisma/migrations, applied by the project's own runner (src/db/migrate.ts) and recorded in
// `_prisma_migrations`, so an operator who has the engine can still use `prisma migrate deploy`.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/vault' },
});
