# Loss curves of docs/training.md (bench/lm_train_demo.sh writes the data); run from docs/.
set terminal pngcairo size 960,600 noenhanced
set output 'training_loss.png'
set title 'Tiny Shakespeare, byte-level Llama (869760 parameters): quarry vs PyTorch, same init and samples'
set xlabel 'optimizer step'; set ylabel 'cross-entropy (nats/byte)'; set grid; set key top right
set yrange [1.2:5.7]
plot 'training_loss/quarry_train.dat' w l lw 1 lc rgb '#88aadd' t 'quarry train',      'training_loss/torch_train.dat' w l lw 1 dt 2 lc rgb '#dd9955' t 'PyTorch train',      'training_loss/quarry_eval.dat' w lp lw 2 pt 7 lc rgb '#1144aa' t 'quarry held-out',      'training_loss/torch_eval.dat' w lp lw 2 pt 6 ps 1.6 lc rgb '#cc5500' t 'PyTorch held-out'
