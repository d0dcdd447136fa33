package update

import "errors"

// Sentinel errors, matched with errors.Is. The errors go-tuf returns for
// metadata it refuses (metadata.ErrUnsignedMetadata, ErrExpiredMetadata,
// ErrBadVersionNumber, ErrLengthOrHashMismatch, ...) are wrapped too, so
// errors.As finds them.
var (
	// ErrMetadata is returned when the repository's TUF metadata cannot be
	// refreshed or is refused (bad or unknown signature, expired, rolled
	// back, inconsistent with the snapshot). Nothing is installed.
	ErrMetadata = errors.New("update metadata refused")
	// ErrVerify is returned when a downloaded archive's length or hashes
	// differ from its TUF target (a tampered or corrupted bundle).
	ErrVerify = errors.New("bundle failed verification")
	// ErrTooLong is returned when the server sends more bytes than the
	// target's signed length.
	ErrTooLong = errors.New("download longer than its signed length")
	// ErrTruncated is returned when a download ends before the target's
	// signed length; the part already received is kept and resumed.
	ErrTruncated = errors.New("download truncated")
	// ErrMismatch is returned when an extracted bundle does not match its
	// signed release metadata or this rig (manifest digest, rig type,
	// firmware-config digest, hardware).
	ErrMismatch = errors.New("bundle does not match its release or this rig")
	// ErrRollback is returned when a release is not newer than the
	// installed model.
	ErrRollback = errors.New("release is not newer than the installed model")
	// ErrCanary is returned (wrapped) by a Canary when the staged model
	// fails its trial.
	ErrCanary = errors.New("canary failed")
	// ErrNoWindows is returned (wrapped) by a Canary when there are not
	// yet enough recent windows to judge; the staged model waits for the
	// next cycle and no attempt is counted.
	ErrNoWindows = errors.New("not enough recent windows for the canary")
	// ErrBudget is returned when the day's byte budget (Options.Budget)
	// is used up before a download is complete: the part file is kept and
	// resumed when the budget allows; no attempt is counted.
	ErrBudget = errors.New("day byte budget used up")
	// ErrDiskFull is returned when the update folder's file system has
	// less free space than a download or an extraction writes plus
	// Options.DiskReserve (the step is not started), or when a write there
	// failed for want of space (ENOSPC, EDQUOT) after that check passed:
	// the part file kept, no attempt counted; the next check tries again.
	ErrDiskFull = errors.New("not enough free disk space for the update")
	// ErrStale is returned when the metadata a staged release was checked
	// against expired before the commit: installing needs fresh metadata.
	ErrStale = errors.New("update metadata expired before the commit")
	// ErrActivate is returned when the new model could not be activated
	// after the switch; the previous model is switched back.
	ErrActivate = errors.New("activate model")
	// ErrUnauthorized is returned when the repository answers 401 or 403:
	// with Options.Credential, the cloud refused the agent's credential
	// (cloud.credential_file); without, the repository wants one. The
	// error names the URL. Nothing is installed and no attempt is
	// counted; the next cycle tries again (reading the credential again).
	ErrUnauthorized = errors.New("update repository refused the request")
	// ErrOffer is returned when the release the cloud offers
	// (Options.Offers) cannot be installed: it is not a target of the
	// verified metadata, its signed version is not the offered one, it is
	// not for this rig, or it was given up. Nothing is installed.
	ErrOffer = errors.New("offered release refused")
	// ErrIncompatible is returned, with ErrOffer, when the offered release
	// does not fit this rig: another rig type, firmware-config digest,
	// hardware or precision, a newer rig-agent needed, an older release
	// that is not the agent's kept previous bundle (a downgrade to a
	// release it never ran), or another bundle at the installed version.
	// The update state is Incompatible: no attempt is counted, and the
	// cloud's rollout does not count the agent as failed.
	ErrIncompatible = errors.New("offered release does not fit this rig")
	// ErrWithdrawn is reported when the offer of the release in progress
	// was withdrawn (the last check-in answer offers none, or another
	// release) before the commit: the attempt is abandoned, not counted.
	ErrWithdrawn = errors.New("offer withdrawn")
	// ErrWatchdog is reported when the committed model crossed the
	// watchdog's bounds and was rolled back.
	ErrWatchdog = errors.New("committed model crossed the watchdog bounds")
)
