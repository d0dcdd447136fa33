// Package uci reads and writes data sets in the layout of the UCI
// "Condition monitoring of hydraulic systems" data set (Helwig, Pignanelli,
// Schuetze, I2MTC 2015; CC BY 4.0), the one layout real and simulated
// cycle data share.
//
// # Layout
//
// A folder holds, for each sensor, "<ID>.txt": one line per load cycle,
// the sensor's samples across the cycle separated by tabs (60 values for a
// 1 Hz sensor over a 60 s cycle, 6000 for 100 Hz). profile.txt holds one
// line per cycle with the target values, tab-separated (in the UCI set:
// cooler, valve, pump, accumulator, stable). The optional cycles.txt holds
// one integer per line, the original cycle number. Line i of every file is
// the same cycle. Example (PS1.txt, profile.txt, cycles.txt):
//
//	169.78499999999997	189.8213	189.81619999999998	...
//	3	73	2	130	0
//	212
//
// Values are decimal numbers as strconv.ParseFloat reads them, without
// hex, NaN or infinities. Lines may end in "\n" or "\r\n"; trailing blanks
// and tabs are ignored, and so are empty lines at the end of a file.
//
// # Reading and writing
//
//	set, err := uci.Read(dir, nil, uci.Targets) // all 17 sensors, 5 targets
//	ps1 := set.Sensor("PS1")                     // [cycle][sample]
//	err = uci.Write(out, set)
//
// Read checks that every file has the same number of lines and every line
// of a file the same number of values, and names file (by its path, so
// two folders with the same file names are told apart), line and column
// in its errors. Write writes each value with the shortest text that reads
// back to the same float64 (strconv 'g', -1), so Write then Read gives the
// same bits. The 1 Hz copy (17 files, about 20 MB) reads in well under a
// second; see BenchmarkRead.
//
// Finding the real data: dataset.Dir.
package uci
