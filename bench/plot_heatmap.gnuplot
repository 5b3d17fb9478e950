# Passkey / needle-in-a-haystack heat maps, drawn as the needle literature draws
# them: x = context length in decoder tokens, y = depth of the key in the text
# (0 % at the top), colour = accuracy (red 0 % .. green 100 %), one panel per
# method. bench/results.sh writes the cell files and calls this script:
#
#   gnuplot -e "prefix='OUT/heatmap/passkey'; methods='e2llm truncate rag full'; \
#               xlabels='2k 4k 8k 16k 32k'; ylabels='0 25 50 75 100'; \
#               title='passkey ...'; outfile='OUT/heatmap-passkey.png'" bench/plot_heatmap.gnuplot
#
# One file per method, PREFIX-METHOD.dat, one line per cell:
#   x_index y_index accuracy_percent label
# x_index/y_index count from 0 along xlabels/ylabels; accuracy is -1 for a
# cell that was not run (e.g. full context beyond the decoder window) and the
# label then says why ("n/a"; the cell is grey); otherwise the label is "acc%\n(n)".
if (!exists("prefix") || !exists("methods") || !exists("outfile")) {
  print "usage: gnuplot -e \"prefix='P'; methods='m1 m2'; xlabels='..'; ylabels='..'; outfile='X.png'\" plot_heatmap.gnuplot"
  exit status 1
}
if (!exists("title")) title = ""
if (!exists("xlabels")) xlabels = "2k 4k 8k 16k 32k"
if (!exists("ylabels")) ylabels = "0 25 50 75 100"

npanels = words(methods)
nx = words(xlabels)
ny = words(ylabels)
ncols = npanels < 2 ? npanels : 2   # two panels a row
nrows = (npanels + ncols - 1) / ncols
panel_w = 150 + 95 * nx
panel_h = 110 + 62 * ny
width = panel_w * ncols + 40
if (width < 10 * strlen(title) + 40) width = 10 * strlen(title) + 40   # room for the title
set terminal pngcairo size width, (panel_h * nrows + 40) font "DejaVu Sans,11"
set output outfile

set palette defined (0 "#d73027", 25 "#fc8d59", 50 "#fee08b", 75 "#91cf60", 100 "#1a9850")
set cbrange [0:100]
set cblabel "accuracy (%)"
set xrange [-0.5:nx - 0.5]
set yrange [ny - 0.5:-0.5]          # depth 0 % at the top
set xtics () scale 0
set ytics () scale 0
do for [i = 1:nx] { set xtics add (word(xlabels, i) i - 1) }
do for [i = 1:ny] { set ytics add (word(ylabels, i)."%%" i - 1) }
set xlabel "context length (decoder tokens)"
set ylabel "depth"
set tics nomirror
set border 0
set style fill solid 1.0 noborder
unset key

set multiplot layout nrows, ncols title title font ",13"
do for [p = 1:npanels] {
  m = word(methods, p)
  f = prefix."-".m.".dat"
  set title m font ",12"
  plot f using 1:2:(0.5):(0.5):($3 >= 0 ? $3 : 1/0) with boxxyerror fillcolor palette, \
       f using 1:2:(0.5):($3 >= 0 ? 1/0 : 0.5) with boxxyerror fillcolor rgb "#cccccc", \
       f using 1:2:4 with labels font ",9" textcolor rgb "#202020"
}
unset multiplot
