#!/bin/sh
# Runs each unit test binary; each prints "N passed, N failed" and exits
# non-zero on failure. Prints the sum as the closing line.
pass=0; fail=0; bad=0
for t in "$@"; do
	out=$("$t" 2>&1); rc=$?
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
	if [ $rc -ne 0 ] || [ -z "$line" ]; then
		printf '%s\n' "$out"
		echo "unit: $t exited $rc"
		bad=1
	fi
	p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p'); f=$(echo "$line" | sed -n 's/.*, \([0-9]*\) failed$/\1/p')
	pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0}))
	echo "unit: $(basename "$t"): $line"
done
[ $bad -eq 0 ] && [ $fail -eq 0 ] || fail=$((fail > 0 ? fail : 1))
echo "unit: $pass passed, $fail failed"
[ $fail -eq 0 ]
