package cloudimage

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// deployment is what TestImageMatchesManifests reads of a Deployment.
type deployment struct {
	Spec struct {
		Template struct {
			Spec struct {
				SecurityContext struct {
					RunAsUser    *int  `yaml:"runAsUser"`
					RunAsGroup   *int  `yaml:"runAsGroup"`
					RunAsNonRoot *bool `yaml:"runAsNonRoot"`
				} `yaml:"securityContext"`
				Containers []struct {
					Name            string   `yaml:"name"`
					Image           string   `yaml:"image"`
					Command         []string `yaml:"command"`
					Args            []string `yaml:"args"`
					SecurityContext struct {
						RunAsUser  *int `yaml:"runAsUser"`
						RunAsGroup *int `yaml:"runAsGroup"`
					} `yaml:"securityContext"`
					Ports []struct {
						Name          string `yaml:"name"`
						ContainerPort int    `yaml:"containerPort"`
					} `yaml:"ports"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
				Volumes []struct {
					Name      string `yaml:"name"`
					ConfigMap *struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// TestImageMatchesManifests keeps the image and deploy/k8s from drifting
// apart: the Deployments run as the image's user and group, pass the
// config where the image's default command reads it (mounted from the
// ConfigMap at its folder), mount only folders the image has, and the API
// names the port the image exposes.
func TestImageMatchesManifests(t *testing.T) {
	dirs := map[string]bool{}
	for _, f := range baseFiles(nil) {
		if strings.HasSuffix(f.path, "/") {
			dirs["/"+strings.TrimSuffix(f.path, "/")] = true
		}
	}
	for _, tc := range []struct {
		file, cmd string
		http      bool
	}{
		{"api-deployment.yaml", "serve", true},
		{"worker-deployment.yaml", "worker", false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "k8s", tc.file))
			require.NoError(t, err)
			var d deployment
			require.NoError(t, yaml.Unmarshal(raw, &d), tc.file)
			pod := d.Spec.Template.Spec
			require.NotNil(t, pod.SecurityContext.RunAsUser, "runAsUser")
			require.NotNil(t, pod.SecurityContext.RunAsGroup, "runAsGroup")
			assert.Equal(t, UID, *pod.SecurityContext.RunAsUser, "runAsUser is the image's user")
			assert.Equal(t, GID, *pod.SecurityContext.RunAsGroup, "runAsGroup is the image's group")
			require.NotNil(t, pod.SecurityContext.RunAsNonRoot)
			assert.True(t, *pod.SecurityContext.RunAsNonRoot)
			configVolumes := map[string]bool{}
			for _, v := range pod.Volumes {
				if v.ConfigMap != nil {
					configVolumes[v.Name] = true
				}
			}
			require.Len(t, pod.Containers, 1)
			c := pod.Containers[0]
			assert.Equal(t, DefaultTag, c.Image, "the image kustomization.yaml's images: rewrites")
			assert.Empty(t, c.Command, "the image's entrypoint %s runs", BinaryPath)
			if c.SecurityContext.RunAsUser != nil {
				assert.Equal(t, UID, *c.SecurityContext.RunAsUser)
			}
			if c.SecurityContext.RunAsGroup != nil {
				assert.Equal(t, GID, *c.SecurityContext.RunAsGroup)
			}
			require.Len(t, c.Args, 3, "args: [%s, --config, FILE]", tc.cmd)
			assert.Equal(t, []string{tc.cmd, "--config", ConfigPath}, c.Args)
			if tc.cmd == "serve" {
				assert.Equal(t, DefaultCmd, c.Args, "the image's default command is the API's args")
			}
			var configMounted bool
			for _, m := range c.VolumeMounts {
				assert.True(t, dirs[path.Clean(m.MountPath)], "mountPath %s is a folder of the image's base layer", m.MountPath)
				if configVolumes[m.Name] && path.Clean(m.MountPath) == path.Dir(ConfigPath) {
					configMounted = true
				}
			}
			assert.True(t, configMounted, "a ConfigMap is mounted at %s", path.Dir(ConfigPath))
			var ports []int
			for _, p := range c.Ports {
				ports = append(ports, p.ContainerPort)
				if p.Name == "http" {
					assert.Equal(t, HTTPPort, p.ContainerPort, "the http port is the one the image exposes")
				}
			}
			if tc.http {
				assert.True(t, slices.Contains(ports, HTTPPort), "containerPort %d (ports %v)", HTTPPort, ports)
			}
		})
	}
}

// TestKustomizationByDigest: deploy/k8s names rig-cloud by digest, as the
// docs advise, and without newTag, with which kustomize would write
// NAME:TAG@DIGEST.
func TestKustomizationByDigest(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "k8s", "kustomization.yaml"))
	require.NoError(t, err)
	var k struct {
		Images []struct {
			Name    string `yaml:"name"`
			NewName string `yaml:"newName"`
			NewTag  string `yaml:"newTag"`
			Digest  string `yaml:"digest"`
		} `yaml:"images"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &k))
	var found bool
	for _, img := range k.Images {
		if img.Name != DefaultTag {
			continue
		}
		found = true
		assert.NotEmpty(t, img.NewName)
		assert.Empty(t, img.NewTag, "no newTag beside the digest")
		assert.Regexp(t, regexp.MustCompile(`^sha256:[0-9a-f]{64}$`), img.Digest)
	}
	assert.True(t, found, "kustomization.yaml sets the image %s", DefaultTag)
}
