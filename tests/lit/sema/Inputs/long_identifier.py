# Writes a program whose names are 1,000,000 characters long: one defined, one misspelled (a
# different last character, so the two have the same length and a distance of 1).
import sys

n = 1_000_000
with open(sys.argv[1], "w") as f:
    f.write("def main():\n")
    f.write("    " + "a" * n + "b = 1\n")
    f.write("    y = " + "a" * n + "c + 1\n")
    f.write("    total_count = 2\n")
    f.write("    z = totla_count + 1\n")
