package daemon

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/wasmbed/wasmbed/ca"
	"github.com/wasmbed/wasmbed/fleet/boltstore"
)

// A backup of a standalone gateway is a gzipped tar of what its data
// directory holds, taken consistently while it serves:
//
//	fleet.db              the store (one bbolt read transaction)
//	ca/<file>             the embedded CA's keys, certificates, configuration, password
//	ca/db.jsonl           the CA's database as records (ca.Embedded.BackupDB)
//	admin.token, reader.token, ca.crt
//	manifest.json         last: what came before it (an archive without it is cut short)
//
// Restore writes them into a new data directory; a gateway started there
// has the fleet, the CA and the tokens of the one backed up, so its devices
// reconnect with the certificates they hold. The audit export file
// (audit.jsonl) is not in it: the store keeps the audit entries, and the
// restored gateway exports them again into a new file.

// BackupFormat is the version of the archive's layout.
const BackupFormat = 1

const (
	backupManifest = "manifest.json"
	backupCADB     = "ca/db.jsonl"
)

// BackupManifest describes a backup: the last entry of its archive.
type BackupManifest struct {
	Format    int       `json:"format"`
	CreatedAt time.Time `json:"created_at"`
	// Gateway is the name of the gateway backed up.
	Gateway    string `json:"gateway"`
	StoreBytes int64  `json:"store_bytes"`
	// CA is "embedded" (its files and database are in the archive) or
	// "external" (a step-ca of its own keeps them: back it up there).
	CA        string `json:"ca"`
	CARecords int    `json:"ca_records"`
	// Files are the archive's entries before the manifest.
	Files []string `json:"files"`
}

// backupSource is what a backup reads.
type backupSource struct {
	dataDir string
	gateway string
	store   func(begin func(size int64) (io.Writer, error)) (int64, error)
	// caDB writes the embedded CA's database as records; nil with an
	// external CA.
	caDB func(w io.Writer) (int, error)
}

// backupFiles are the data directory's files a backup copies as they are
// (beside the store and the CA's database), if present.
func backupFiles(embeddedCA bool) []string {
	files := []string{AdminTokenFile, ReaderTokenFile, CACertFile}
	if embeddedCA {
		for _, f := range ca.BackupFiles {
			files = append(files, path.Join(CADir, f))
		}
	}
	return files
}

// writeBackup writes the archive of src to w.
func writeBackup(w io.Writer, src backupSource) (BackupManifest, error) {
	m := BackupManifest{Format: BackupFormat, CreatedAt: time.Now().UTC(), Gateway: src.gateway, CA: "external"}
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	add := func(name string, size int64) (io.Writer, error) {
		m.Files = append(m.Files, name)
		return tw, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: m.CreatedAt, Typeflag: tar.TypeReg})
	}
	var err error
	m.StoreBytes, err = src.store(func(size int64) (io.Writer, error) { return add(StoreFile, size) })
	if err != nil {
		return m, err
	}
	if src.caDB != nil {
		m.CA = "embedded"
		// Records to a temporary file first: a tar entry's size comes first.
		tmp, err := os.CreateTemp("", "wasmbed-ca-db-*.jsonl")
		if err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		if m.CARecords, err = src.caDB(tmp); err != nil {
			return m, err
		}
		size, err := tmp.Seek(0, io.SeekCurrent)
		if err == nil {
			_, err = tmp.Seek(0, io.SeekStart)
		}
		if err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
		dst, err := add(backupCADB, size)
		if err == nil {
			_, err = io.Copy(dst, tmp)
		}
		if err != nil {
			return m, fmt.Errorf("backup: CA database: %w", err)
		}
	}
	for _, name := range backupFiles(src.caDB != nil) {
		b, err := os.ReadFile(filepath.Join(src.dataDir, filepath.FromSlash(name)))
		if errors.Is(err, fs.ErrNotExist) && !slices.Contains(ca.BackupFiles, path.Base(name)) {
			continue // a token file not made yet
		}
		if err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
		dst, err := add(name, int64(len(b)))
		if err == nil {
			_, err = dst.Write(b)
		}
		if err != nil {
			return m, fmt.Errorf("backup: %s: %w", name, err)
		}
	}
	manifest, _ := json.MarshalIndent(m, "", "  ")
	if err := tw.WriteHeader(&tar.Header{Name: backupManifest, Mode: 0o600, Size: int64(len(manifest)), ModTime: m.CreatedAt, Typeflag: tar.TypeReg}); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	if _, err := tw.Write(manifest); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	if err := tw.Close(); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	if err := gz.Close(); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	return m, nil
}

// BackupDataDir writes a backup of the data directory of a gateway that is
// not running (a running gateway holds its store and CA database: back it
// up through its API, GET /v1/backup).
func BackupDataDir(w io.Writer, dataDir string) (BackupManifest, error) {
	bs, err := boltstore.Open(filepath.Join(dataDir, StoreFile))
	if err != nil {
		return BackupManifest{}, fmt.Errorf("backup: %w", err)
	}
	defer bs.Close()
	src := backupSource{dataDir: dataDir, store: bs.Snapshot}
	caDir := filepath.Join(dataDir, CADir)
	if _, err := os.Stat(filepath.Join(caDir, ca.FileDB)); err == nil {
		src.caDB = func(w io.Writer) (int, error) { return ca.BackupDBFile(caDir, w) }
	}
	return writeBackup(w, src)
}

// Restore writes the backup r holds into dataDir, which must not exist or
// be empty. It writes into a directory beside it and renames that into
// place once the archive was read whole and matched its manifest: a
// failed restore leaves nothing.
func Restore(r io.Reader, dataDir string) (BackupManifest, error) {
	var m BackupManifest
	if entries, err := os.ReadDir(dataDir); err == nil && len(entries) > 0 {
		return m, fmt.Errorf("restore: %s is not empty", dataDir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return m, fmt.Errorf("restore: %w", err)
	}
	parent := filepath.Dir(filepath.Clean(dataDir))
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dataDir)+".restore-*")
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	gz, err := gzip.NewReader(r)
	if err != nil {
		return m, fmt.Errorf("restore: not a gzipped backup: %w", err)
	}
	tr := tar.NewReader(gz)
	allowed := map[string]bool{StoreFile: true, backupCADB: true}
	for _, f := range backupFiles(true) {
		allowed[f] = true
	}
	var seen []string
	var storeBytes int64
	caRecords := -1
	haveManifest := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, fmt.Errorf("restore: the archive is damaged or cut short: %w", err)
		}
		if haveManifest {
			return m, fmt.Errorf("restore: %s after the manifest", h.Name)
		}
		switch {
		case h.Name == backupManifest:
			if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&m); err != nil {
				return m, fmt.Errorf("restore: manifest: %w", err)
			}
			haveManifest = true
			continue
		case !allowed[h.Name] || h.Typeflag != tar.TypeReg || slices.Contains(seen, h.Name):
			return m, fmt.Errorf("restore: unexpected entry %q in the archive", h.Name)
		}
		seen = append(seen, h.Name)
		dst := filepath.Join(tmp, filepath.FromSlash(h.Name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return m, fmt.Errorf("restore: %w", err)
		}
		if h.Name == backupCADB {
			if caRecords, err = ca.RestoreDB(filepath.Dir(dst), tr); err != nil {
				return m, fmt.Errorf("restore: %w", err)
			}
			continue
		}
		n, err := writeFile(dst, tr)
		if err != nil {
			return m, fmt.Errorf("restore: %s: %w", h.Name, err)
		}
		if h.Name == StoreFile {
			storeBytes = n
		}
	}
	switch {
	case !haveManifest:
		return m, errors.New("restore: the archive has no manifest: it was cut short")
	case m.Format != BackupFormat:
		return m, fmt.Errorf("restore: backup format %d, this gateway reads %d", m.Format, BackupFormat)
	case !slices.Equal(seen, m.Files):
		return m, fmt.Errorf("restore: the archive holds %v, its manifest lists %v", seen, m.Files)
	case storeBytes != m.StoreBytes:
		return m, fmt.Errorf("restore: the store is %d bytes, the manifest says %d", storeBytes, m.StoreBytes)
	case m.CA == "embedded" && caRecords != m.CARecords:
		return m, fmt.Errorf("restore: %d CA records, the manifest says %d", caRecords, m.CARecords)
	}
	// The store opens (a damaged file is refused here, not at the gateway's start).
	bs, err := boltstore.Open(filepath.Join(tmp, StoreFile))
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	if err := bs.Close(); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	os.Remove(dataDir) // empty, or absent
	if err := os.Rename(tmp, dataDir); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	done = true
	return m, nil
}

func writeFile(path string, r io.Reader) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}
