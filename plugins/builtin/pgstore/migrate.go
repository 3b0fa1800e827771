package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// versionsTable records, per records table, the last migration applied.
const versionsTable = "wadi_schema_versions"

// migrationLock is the key of the advisory lock migrations hold, the same
// for every table, so that nodes starting at once, with one table or
// several, do not race to create the versions table either. ("wadi" in
// ASCII, then the store's number.)
const migrationLock int64 = 0x77616469_00000001

// migrations are the schema's versions, in order; %[1]s is the quoted
// records table, %[2]s its quoted index on expiry. A migration is never
// changed once released: a later one alters what an earlier one made.
var migrations = []string{
	// 1: the records. Ids are bytes, as the store contract has them (text
	// would refuse NUL and invalid UTF-8); expiries are Unix nanoseconds,
	// kept exactly. The index serves DeleteExpired's earliest-first scan.
	`CREATE TABLE IF NOT EXISTS %[1]s (
		id      bytea  PRIMARY KEY,
		expires bigint NOT NULL,
		data    bytea  NOT NULL
	);
	CREATE INDEX IF NOT EXISTS %[2]s ON %[1]s (expires);
	COMMENT ON TABLE %[1]s IS 'WADI session store (pgstore); expires is in Unix nanoseconds'`,
}

// migrate brings the table's schema to the latest version, in one
// transaction under an advisory lock: it is idempotent, and nodes that start
// at once apply each migration once. A table migrated by a later version of
// the store is refused rather than misused.
func migrate(ctx context.Context, pool *pgxpool.Pool, table string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		versions := pgx.Identifier{versionsTable}.Sanitize()
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+versions+` (
			table_name text    PRIMARY KEY,
			version    integer NOT NULL
		)`); err != nil {
			return fmt.Errorf("creating %s: %w", versionsTable, err)
		}
		var version int
		err := tx.QueryRow(ctx, `SELECT version FROM `+versions+` WHERE table_name = $1`, table).Scan(&version)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("reading the schema version of %s: %w", table, err)
		}
		if version > len(migrations) {
			return fmt.Errorf("table %s has schema version %d; this build knows versions up to %d", table, version, len(migrations))
		}
		if version == len(migrations) {
			return nil
		}
		quoted, index := pgx.Identifier{table}.Sanitize(), pgx.Identifier{table + "_expires_idx"}.Sanitize()
		for v := version; v < len(migrations); v++ {
			// No arguments: the simple protocol, which runs several
			// statements in one Exec.
			if _, err := tx.Exec(ctx, fmt.Sprintf(migrations[v], quoted, index)); err != nil {
				return fmt.Errorf("migrating %s to version %d: %w", table, v+1, err)
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO `+versions+` (table_name, version) VALUES ($1, $2)
			ON CONFLICT (table_name) DO UPDATE SET version = EXCLUDED.version`, table, len(migrations))
		if err != nil {
			return fmt.Errorf("recording the schema version of %s: %w", table, err)
		}
		return nil
	})
}
