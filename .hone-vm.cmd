env HONE_ARGS=--sensor\ kmod DURATION=5 RUNS=3 QUIET_WAIT=10 QUIET_LOAD=2 MAX_OTHER=2 bench/flood_bench.sh 
