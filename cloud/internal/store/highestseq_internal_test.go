package store

// HighestSeqSQL is HighestSeq's query, for its EXPLAIN test.
const HighestSeqSQL = highestSeqSQL
