package rig

// ComponentIndex returns the position of the component with the given id,
// or -1.
func (c *Config) ComponentIndex(id string) int {
	for i := range c.Components {
		if c.Components[i].ID == id {
			return i
		}
	}
	return -1
}

// Sensor returns the sensor with the given id, or nil.
func (c *Config) Sensor(id string) *Sensor {
	for i := range c.Sensors {
		if c.Sensors[i].ID == id {
			return &c.Sensors[i]
		}
	}
	return nil
}

// ActiveSensors returns the sensors not marked inactive, in config order:
// the feature order of models trained for this rig.
func (c *Config) ActiveSensors() []Sensor {
	out := make([]Sensor, 0, len(c.Sensors))
	for _, s := range c.Sensors {
		if !s.Inactive {
			out = append(out, s)
		}
	}
	return out
}

// Target returns the target with the given name, or nil.
func (c *Config) Target(name string) *Target {
	for i := range c.Targets {
		if c.Targets[i].Name == name {
			return &c.Targets[i]
		}
	}
	return nil
}

// Adjacency returns the component graph as an undirected adjacency matrix
// in component order, without self loops: adj[i][j] is true when a
// connection joins components i and j in either direction. Graph attention
// over components uses it as its mask. The config must be valid.
func (c *Config) Adjacency() [][]bool {
	n := len(c.Components)
	adj := make([][]bool, n)
	for i := range adj {
		adj[i] = make([]bool, n)
	}
	for _, e := range c.Connections {
		i, j := c.ComponentIndex(e.From), c.ComponentIndex(e.To)
		if i < 0 || j < 0 || i == j {
			continue
		}
		adj[i][j], adj[j][i] = true, true
	}
	return adj
}

// ClassIndex returns the index of the class whose value is v, or -1.
func (t *Target) ClassIndex(v float64) int {
	for i, c := range t.Classes {
		if c.Value == v {
			return i
		}
	}
	return -1
}
