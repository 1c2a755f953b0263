package daemon

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// How the file watch waits for a change to settle: settle after the last
// event of the config file, but never longer than settleMax after the first
// one, so that a file written again and again is still picked up.
const (
	settle    = 150 * time.Millisecond
	settleMax = time.Second
)

// watchFile reloads when the config file changes. It watches the folder,
// not the file: editors replace the file by renaming over it, and
// Kubernetes-style deploys swap a symlink, both of which a watch on the old
// inode would miss. Only events for the config file, its symlink's target
// or a change of where the symlink leads count: other files in the folder
// (logs, a deploy tool's scratch files) written more often than settle would
// otherwise keep postponing the reload forever. A reload happens when the
// bytes differ from the running config, or when the last reload failed (the
// file put back as it was is a successful reload).
func (d *daemon) watchFile(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching %s: %w", d.cfgPath, err)
	}
	path := filepath.Clean(d.cfgPath)
	watched := map[string]bool{}
	watch := func(dir string) error {
		if watched[dir] {
			return nil
		}
		if err := w.Add(dir); err != nil {
			return fmt.Errorf("watching %s: %w", dir, err)
		}
		watched[dir] = true
		return nil
	}
	target := resolveFile(path)
	for _, dir := range []string{filepath.Dir(path), filepath.Dir(target)} {
		if err := watch(dir); err != nil {
			w.Close()
			return err
		}
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer w.Close()
		timer := time.NewTimer(time.Hour)
		timer.Stop()
		defer timer.Stop()
		var first time.Time // of the first event not yet acted on; zero: none
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				relevant := filepath.Clean(ev.Name) == path || filepath.Clean(ev.Name) == target
				if t := resolveFile(path); t != target {
					// A symlink swap: the new target's folder may be new too.
					target, relevant = t, true
					if err := watch(filepath.Dir(t)); err != nil {
						d.log.Warn("config watch error", zap.Error(err))
					}
				}
				if !relevant {
					continue
				}
				now := time.Now()
				if first.IsZero() {
					first = now
				}
				timer.Reset(max(0, min(settle, first.Add(settleMax).Sub(now))))
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				d.log.Warn("config watch error", zap.Error(err))
			case <-timer.C:
				first = time.Time{}
				data, err := os.ReadFile(d.cfgPath)
				if err != nil {
					continue // mid-replace: the file's next event comes
				}
				if bytes.Equal(data, d.loadedData()) && d.reloadResult().ok {
					continue // nothing changed
				}
				select {
				case d.reloads <- reloadReq{source: "file"}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return nil
}

// resolveFile is where path leads through symlinks, or path itself when it
// leads nowhere (yet).
func resolveFile(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return filepath.Clean(real)
	}
	return path
}
