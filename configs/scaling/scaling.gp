# scaling.gp: valid bits per byte against cumulative training FLOPs, grown vs scratch.
# gnuplot -e "dat='scaling/scaling.dat'; png='scaling/scaling.png'" configs/scaling/scaling.gp
set terminal pngcairo size 900,560 font ",11"
set output png
set title "TokenFormer on KJV: progressive growth vs training from scratch"
set xlabel "cumulative training FLOPs"
set ylabel "valid bits per byte"
set logscale x
set format x "10^{%L}"
set grid
set key top right
plot dat index 0 with linespoints pt 7 ps 0.6 lw 2 title "grown: 64/64/256 -> 128/128/512 -> 256/256/1024 tokens", \
     dat index 1 with linespoints pt 5 ps 0.6 lw 2 title "scratch 256/256/1024, same total FLOPs", \
     dat index 2 with linespoints pt 9 ps 0.6 lw 2 title "scratch 256/256/1024, last stage's FLOPs"
