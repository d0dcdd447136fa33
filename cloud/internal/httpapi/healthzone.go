package httpapi

import (
	"time"
	// The IANA time zone database, for ?tz= on hosts and images without
	// /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/gin-gonic/gin"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// zoneParam reads the optional IANA time zone name parameter name
// (default UTC); false when it answered 400.
func zoneParam(c *gin.Context, name string) (*time.Location, bool) {
	tz := c.Query(name)
	if tz == "" {
		return time.UTC, true
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "Local" {
		badParam(c, "%s %q is not an IANA time zone name (e.g. UTC, Europe/Berlin, America/Chicago)", name, tz)
		return nil, false
	}
	return loc, true
}

// bucketStart is the start of the bucket (an hour or a day of loc) that
// holds t, as the SQL groups window starts (date_trunc in loc).
func bucketStart(t time.Time, bucket string, loc *time.Location) time.Time {
	l := t.In(loc)
	if bucket == store.BucketDay {
		return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	}
	// An hour starts at loc's whole hour: in zones offset by a part of an
	// hour (+05:30) that is not UTC's.
	return l.Add(-time.Duration(l.Minute())*time.Minute - time.Duration(l.Second())*time.Second - time.Duration(l.Nanosecond()))
}

// healthBucketsIn is how many buckets (hours or days of loc) the range
// [from, to) touches: a range not aligned to them touches one more than
// its length holds, and a day is a calendar day of loc whatever its
// length (23 or 25 hours across a daylight saving change). from is
// before to.
func healthBucketsIn(from, to time.Time, bucket string, loc *time.Location) int {
	first, last := bucketStart(from, bucket, loc), bucketStart(to.Add(-time.Microsecond), bucket, loc)
	if bucket == store.BucketDay {
		// Calendar days between the two local dates.
		d0 := time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, time.UTC)
		d1 := time.Date(last.Year(), last.Month(), last.Day(), 0, 0, 0, 0, time.UTC)
		return int(d1.Sub(d0)/(24*time.Hour)) + 1
	}
	return int(last.Sub(first)/time.Hour) + 1
}
