package ca

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/smallstep/certificates/db"
	"github.com/smallstep/nosql"
)

// Backing up the embedded authority: its files (keys, certificates,
// configuration, password) as they are, and its database (issued and
// revoked certificates, used tokens, the CRL) as records, one JSON object
// per line, read table by table while no certificate is signed or revoked.
// step-ca opens its bbolt file exclusively, so a copy of the file would have
// to be taken under its feet; its records are what nosql lists.

// BackupFiles are the files of an embedded authority's directory a backup
// holds (FileDB is written as records instead).
var BackupFiles = []string{FileRootCert, FileRootKey, FileIntermediateCert, FileIntermediateKey, FilePassword, FileConfig}

// dbTables are the tables step-ca v0.30 makes in its database (db.New).
var dbTables = []string{"x509_certs", "x509_certs_data", "revoked_x509_certs", "x509_crl", "revoked_ssh_certs",
	"used_ott", "ssh_certs", "ssh_hosts", "ssh_users", "ssh_host_principals"}

// dbRecord is one record of the authority's database in a backup.
type dbRecord struct {
	Table string `json:"table"`
	Key   []byte `json:"key"`
	Value []byte `json:"value"`
}

// BackupDB writes the authority's database as records to w, while no
// certificate is signed or revoked; it returns how many.
func (e *Embedded) BackupDB(w io.Writer) (int, error) {
	e.dbMu.Lock()
	defer e.dbMu.Unlock()
	sdb, ok := e.auth.GetDatabase().(*db.DB)
	if !ok || sdb.DB == nil {
		return 0, fmt.Errorf("ca: backup: the authority's database is a %T, not step-ca's nosql database", e.auth.GetDatabase())
	}
	return dumpDB(sdb.DB, w)
}

func dumpDB(d nosql.DB, w io.Writer) (int, error) {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	n := 0
	for _, t := range dbTables {
		entries, err := d.List([]byte(t))
		if err != nil {
			if nosql.IsErrNotFound(err) {
				continue
			}
			return n, fmt.Errorf("ca: backup: table %s: %w", t, err)
		}
		for _, en := range entries {
			if err := enc.Encode(dbRecord{Table: t, Key: en.Key, Value: en.Value}); err != nil {
				return n, fmt.Errorf("ca: backup: %w", err)
			}
			n++
		}
	}
	return n, bw.Flush()
}

// RestoreDB makes the database of an embedded authority in dir from the
// records r holds (what BackupDB wrote); dir must have none yet.
func RestoreDB(dir string, r io.Reader) (n int, err error) {
	path := filepath.Join(dir, FileDB)
	if _, err := os.Stat(path); err == nil {
		return 0, fmt.Errorf("ca: restore: %s exists", path)
	}
	d, err := nosql.New("bbolt", path)
	if err != nil {
		return 0, fmt.Errorf("ca: restore: open %s: %w", path, err)
	}
	defer func() {
		if cerr := d.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("ca: restore: close %s: %w", path, cerr)
		}
	}()
	for _, t := range dbTables {
		if err := d.CreateTable([]byte(t)); err != nil {
			return 0, fmt.Errorf("ca: restore: table %s: %w", t, err)
		}
	}
	dec := json.NewDecoder(r)
	for {
		var rec dbRecord
		if err := dec.Decode(&rec); errors.Is(err, io.EOF) {
			return n, nil
		} else if err != nil {
			return n, fmt.Errorf("ca: restore: record %d: %w", n+1, err)
		}
		if err := d.Set([]byte(rec.Table), rec.Key, rec.Value); err != nil {
			return n, fmt.Errorf("ca: restore: record %d (table %s): %w", n+1, rec.Table, err)
		}
		n++
	}
}

// BackupDBFile writes, as BackupDB does, the database of an embedded
// authority in dir that no process has open (a stopped gateway's).
func BackupDBFile(dir string, w io.Writer) (n int, err error) {
	path := filepath.Join(dir, FileDB)
	if _, err := os.Stat(path); err != nil {
		return 0, fmt.Errorf("ca: backup: %w", err)
	}
	d, err := nosql.New("bbolt", path)
	if err != nil {
		return 0, fmt.Errorf("ca: backup: open %s (is its gateway running? back it up through its API): %w", path, err)
	}
	defer d.Close()
	return dumpDB(d, w)
}
