"""Golden values of the seeded noise stream (tests/noise.rs), from an independent Python
implementation of the recipe of crate/src/pipeline/noise.rs: FNV-1a of the key mixed with the
seed (the fixed SUBJECT_SEED for `subject/...` keys), SplitMix64 seeding xoshiro256++, uniforms
in (0, 1], Box-Muller pairs. Plain Python, no packages:  python3 tests/gen/noise_golden.py
"""
import math
M=(1<<64)-1
def splitmix(s):
    s=(s+0x9E3779B97F4A7C15)&M
    z=s
    z=((z^(z>>30))*0xBF58476D1CE4E5B9)&M
    z=((z^(z>>27))*0x94D049BB133111EB)&M
    return s, z^(z>>31)
def rotl(x,k): return ((x<<k)|(x>>(64-k)))&M
def draw(seed,key,n):
    h=0xcbf29ce484222325
    for b in key.encode(): h=((h^b)*0x100000001B3)&M
    if key.startswith("subject/"): seed=0x5EED5B1EC7
    s=seed^rotl(h,17)
    s,x=splitmix(s)
    st=[]
    s2=x
    for _ in range(4):
        s2,v=splitmix(s2); st.append(v)
    def nxt():
        out=(rotl((st[0]+st[3])&M,23)+st[0])&M
        t=(st[1]<<17)&M
        st[2]^=st[0]; st[3]^=st[1]; st[1]^=st[2]; st[0]^=st[3]; st[2]^=t; st[3]=rotl(st[3],45)
        return out
    def uni(): return ((nxt()>>11)+1)*(1.0/(1<<53))
    out=[]
    while len(out)<n:
        u1,u2=uni(),uni()
        r=math.sqrt(-2*math.log(u1)); th=2*math.pi*u2
        out+= [r*math.cos(th), r*math.sin(th)]
    return out[:n]
print(draw(3154,"init/latents",5))
print(draw(1,"subject/t1",5))
print(draw(3154,"subject/t1",5))
print(draw(7,"subject/posterior",5))
