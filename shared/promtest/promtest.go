package promtest

import (
	"regexp"
	"strings"
)

// Families returns the series names of a /metrics body in the text
// exposition format: each family's name (from its "# TYPE" line), and a
// histogram's or summary's _sum and _count, and a histogram's _bucket.
func Families(body string) map[string]bool {
	names := map[string]bool{}
	AddFamilies(names, body)
	return names
}

// AddFamilies adds the series names of body (as Families) to names.
func AddFamilies(names map[string]bool, body string) {
	for line := range strings.SplitSeq(body, "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" {
			continue
		}
		names[f[2]] = true
		switch f[3] {
		case "histogram":
			names[f[2]+"_bucket"], names[f[2]+"_sum"], names[f[2]+"_count"] = true, true, true
		case "summary":
			names[f[2]+"_sum"], names[f[2]+"_count"] = true, true
		}
	}
}

// RuleMetrics returns the metric names starting with prefix in text (a
// rule file, or one expression), each once, in order of first use,
// without those that are part of a recorded series' name
// (level:rig_agent_x:rate5m), told apart by the colon next to them.
func RuleMetrics(text, prefix string) []string {
	re := regexp.MustCompile(regexp.QuoteMeta(prefix) + `[a-zA-Z0-9_]+`)
	var out []string
	seen := map[string]bool{}
	for _, loc := range re.FindAllStringIndex(text, -1) {
		if loc[0] > 0 && text[loc[0]-1] == ':' || loc[1] < len(text) && text[loc[1]] == ':' {
			continue
		}
		if n := text[loc[0]:loc[1]]; !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
