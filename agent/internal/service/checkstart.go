package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/ingest"
	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// CheckStart runs, for `rig-agent --check`, the checks of Start that
// need neither the stores nor the model nor the network, with the errors
// Start gives: the agent can create and write agent.data_dir and the
// folders of buffer.path and diagnoses.path (as the user running it: run
// --check as the service's user), every plugin codec the firmware config
// names has its executable in agent.plugin_dir, and the ingest accepts
// the firmware config's topics and codecs. config.Load has checked the
// rest (files readable, TLS files, the embedded broker's credentials).
func CheckStart(cfg *config.Config) error {
	for _, d := range []struct{ key, dir string }{
		{"agent.data_dir", cfg.Agent.DataDir},
		{"buffer.path", filepath.Dir(cfg.Buffer.Path)},
		{"diagnoses.path", filepath.Dir(cfg.Diagnoses.Path)},
	} {
		if err := creatable(d.dir); err != nil {
			return fmt.Errorf("%s %s: %w", d.key, d.dir, err)
		}
	}
	iopt := ingest.Options{Broker: cfg.Broker.URL, ClientID: cfg.Broker.ClientID, Logger: slog.New(slog.DiscardHandler)}
	if iopt.Broker == "" { // embedded: its URL is known once it listens
		iopt.Broker = "tcp://" + cfg.Broker.Listen
	}
	if usesPlugins(cfg) {
		host, err := pluginHost(cfg, iopt.Logger)
		if err != nil {
			return err
		}
		defer host.Close() // nothing started: Codec only finds the executable
		iopt.Plugins = func(name string) (ingest.Decoder, error) { return host.Codec(name) }
	}
	if _, err := ingest.New(cfg.Firmware, noStore{}, iopt); err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	return nil
}

// pluginHost is the codec plugin host of agent.plugin_dir (empty: the
// executable's folder).
func pluginHost(cfg *config.Config, log *slog.Logger) (*plugin.Host, error) {
	dir := cfg.Agent.PluginDir
	if dir == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("agent.plugin_dir is empty and the executable's directory is unknown: %w", err)
		}
		dir = filepath.Dir(exe)
	}
	h, err := plugin.NewHost(plugin.HostOptions{Dir: dir, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("codec plugins (agent.plugin_dir): %w", err)
	}
	return h, nil
}

// creatable checks that dir is a folder this process can write, or that
// its nearest existing parent is one, so that os.MkdirAll(dir) and the
// files the agent creates in it would succeed.
func creatable(dir string) error {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		switch {
		case (errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR)) && filepath.Dir(d) != d:
			continue
		case err != nil:
			return err
		case !fi.IsDir():
			return fmt.Errorf("%s is not a directory", d)
		}
		if err := unix.Access(d, unix.W_OK|unix.X_OK); err != nil {
			return fmt.Errorf("%s is not writable: %w", d, err)
		}
		return nil
	}
}

// noStore is the ingest's store for CheckStart, which never runs it.
type noStore struct{}

func (noStore) Append(context.Context, []reading.Reading) error {
	return errors.New("no store: a check only")
}
