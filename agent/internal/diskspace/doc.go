// Package diskspace tells how much room is left on a file system.
//
// Free is for writers: the buffer's compaction and the updater's downloads
// and extractions check it before they write, since they share the agent's
// data disk. Monitor is for metrics: it samples the directories the agent
// writes (store, history, updates, data) at scrape time, never waiting
// longer than its timeout for a file system that does not answer (a hung
// network mount), with at most one statfs call in flight per path however
// many scrapes ask.
//
// The figures are statfs's: Free counts the blocks available to an
// unprivileged user (not the root reserve), Size the file system's data
// blocks, both times the unit statfs counts them in (f_frsize on Linux,
// f_bsize where there is none), as df's "Avail" and "Size" columns.
package diskspace
