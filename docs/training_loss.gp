set terminal pngcairo size 960,600 noenhanced
set output '/work/wt-train/docs/training_loss.png'
set title 'Tiny Shakespeare, byte-level Llama (0.87M parameters): quarry vs PyTorch, same init and samples'
set xlabel 'optimizer step'; set ylabel 'cross-entropy (nats/byte)'; set grid; set key top right
set yrange [1.3:5.7]
plot '/tmp/trn/demo/quarry_train.dat' w l lw 1 lc rgb '#88aadd' t 'quarry train',      '/tmp/trn/demo/torch_train.dat' w l lw 1 dt 2 lc rgb '#dd9955' t 'PyTorch train',      '/tmp/trn/demo/quarry_eval.dat' w lp lw 2 pt 7 lc rgb '#1144aa' t 'quarry held-out',      '/tmp/trn/demo/torch_eval.dat' w lp lw 2 pt 6 ps 1.6 lc rgb '#cc5500' t 'PyTorch held-out'
