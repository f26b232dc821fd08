"""The course's interactive explorers, one module each.

Each module holds pure functions (control values in; a figure drawn and a small result dict
out) and a thin ipywidgets wrapper around them, so the chapter can show a static figure of the
same function beside the live widget, and tests can drive a widget without a browser:

* :mod:`nnlearn.widgets.neuron` (chapter 01): ``make_neuron_widget(x, y)``, sliders for the
  weights and bias of one neuron and its activation, showing the decision boundary and accuracy;
* :mod:`nnlearn.widgets.activation_explorer` (chapter 02): ``make_activation_explorer()``,
  activation functions and their derivatives, their parameters on sliders, saturation marked;
* :mod:`nnlearn.widgets.optimizer_paths` (chapter 07): ``make_optimizer_paths_widget()``,
  several optimizers' paths on a 2-D loss surface, learning rate and steps on sliders;
* :mod:`nnlearn.widgets.playground` (chapter 08): ``make_playground_widget()``, watch a small
  network train on a 2-D data set, as in TensorFlow Playground: its decision regions, training
  and test loss and hidden units' maps, with the data (set, noise, train/test ratio), the
  network (width, depth, activation) and the training (optimizer, learning rate, L2, batch
  size) on controls; the pure core is :mod:`nnlearn.widgets.playground_run`.

All four respond in the static book too: their main slider (the bias, the input range, the
learning rate, the epoch of a recorded run) switches between frames drawn in advance
(:mod:`nnlearn.widgets.layout`).

This package imports nothing: ipywidgets and matplotlib load with the explorer you use.
"""
