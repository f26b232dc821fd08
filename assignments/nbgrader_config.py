"""nbgrader configuration of the nnlearn course (this folder is the course directory).

Layout, as nbgrader expects it (only source/ and this file are committed):

    source/<assignment>/<assignment>.ipynb      instructor versions: solutions, hidden tests
    release/<assignment>/                        student versions (``make assignments``)
    submitted/<student>/<assignment>/            what students hand in (you put it there)
    autograded/<student>/<assignment>/           executed and scored (``make grade``)
    feedback/<student>/<assignment>/*.html       per-student reports (``make feedback``)
    gradebook.db, grades.csv                     the scores
"""

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "nnlearn"

# Each cell of a submission may run this long (seconds) before nbgrader interrupts the kernel
# and moves on: an infinite loop then costs the student that part, not the whole assignment.
# The real work of any cell takes a few seconds (the first `import torch` is the slowest).
# The student's code runs in the judge's student process (scripts/judge.py), which stops a
# call 5 s before this limit; nbgrader's interrupt stops it too if it comes first.
c.ExecutePreprocessor.timeout = 30
c.ExecutePreprocessor.interrupt_on_timeout = True
# After a cell's reply, nbclient waits this long (seconds) for the cell's last output. Its
# default of 4 s lost outputs on a loaded 2-core machine, and with them a student's marks.
c.ExecutePreprocessor.iopub_timeout = 30
