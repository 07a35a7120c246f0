# study.gp: the growth study's curves (gnuplot -e "dir='build/growth-study'" study.gp).
set terminal pngcairo size 900,560 font ",11"
set xlabel "cumulative training FLOPs"
set ylabel "valid bits per byte (mean over seeds)"
set logscale x
set format x "10^{%L}"
set grid
set key top right
set output dir."/curves.png"
set title "Growth at equal FLOPs: init, schedule, freezing, scratch"
plot for [i=0:5] dir."/curves.dat" index i with linespoints pt 7 ps 0.5 lw 2 \
  title word("exact random duplicate growth-aware frozen scratch", i + 1)
set output dir."/shrink.png"
set title "Shrunk and retrained vs the small size from scratch"
plot for [i=0:1] dir."/shrink.dat" index i with linespoints pt 7 ps 0.5 lw 2 \
  title word("shrunk-then-retrained from-scratch", i + 1)
