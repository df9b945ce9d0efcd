-- Managed by mailctl (cluster {{ cluster.name }}): Roundcube's role and database, run by
-- psql as postgres whenever they change. Idempotent. Holds a password: mode 0600.
SELECT 'CREATE ROLE roundcube LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'roundcube')\gexec
ALTER ROLE roundcube WITH LOGIN PASSWORD '{{ webmail_db.password }}';
SELECT 'CREATE DATABASE roundcube OWNER roundcube ENCODING ''UTF8'' TEMPLATE template0' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'roundcube')\gexec
