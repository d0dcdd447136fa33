package store

// StatusRankSQL exposes statusRankSQL (tests only).
var StatusRankSQL = statusRankSQL
