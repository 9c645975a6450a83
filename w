d
c
