package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
)

// Modules nothing needs any more (no application's spec or stable release,
// no deployment: fleet.ModuleUsers) are deleted from the embedded store
// when two sweeps ModuleGCInterval apart both found them unused: a module
// uploaded just before the application that names it is put is never
// taken, and one left by a deleted application or a superseded version
// goes within two intervals. In Kubernetes mode modules are ConfigMaps,
// left to kubectl.

// moduleGCLoop sweeps every ModuleGCInterval until ctx ends.
func (g *Gateway) moduleGCLoop(ctx context.Context) {
	ms, ok := g.store.(fleet.ModuleStore)
	if !ok || g.cfg.ModuleGCInterval < 0 {
		return
	}
	t := time.NewTicker(g.cfg.ModuleGCInterval)
	defer t.Stop()
	unused := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var err error
		if unused, err = g.collectModules(ctx, ms, unused); err != nil {
			g.log.Warn("collect unused modules", "err", err)
		}
	}
}

// collectModules deletes the modules unused now that were unused at the
// sweep before (seen), and returns the ones unused now for the next sweep.
func (g *Gateway) collectModules(ctx context.Context, ms fleet.ModuleStore, seen map[string]bool) (map[string]bool, error) {
	mods, err := ms.Modules(ctx)
	if err != nil {
		return seen, err
	}
	users, err := fleet.ModuleUsersIn(ctx, g.store)
	if err != nil {
		return seen, err
	}
	unused := map[string]bool{}
	for _, m := range mods {
		if len(users(m.SHA256)) > 0 {
			continue
		}
		if !seen[m.SHA256] {
			unused[m.SHA256] = true // its first sweep unused: the next decides
			continue
		}
		// Read the users again right before: an application put since the
		// listing above may name it.
		if users, err = fleet.ModuleUsersIn(ctx, g.store); err != nil {
			return unused, err
		}
		if u := users(m.SHA256); len(u) > 0 {
			continue
		}
		if err := ms.DeleteModule(ctx, m.SHA256); err != nil && !errors.Is(err, fleet.ErrNotFound) {
			return unused, fmt.Errorf("module %s: %w", m.SHA256, err)
		}
		g.Metrics.ModulesCollected.Inc()
		g.event(ctx, "module.deleted", m.SHA256, fmt.Sprintf("module %s (%d bytes) deleted: nothing has needed it for %v",
			m.SHA256, m.Size, g.cfg.ModuleGCInterval))
	}
	return unused, nil
}
